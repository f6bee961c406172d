import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Content hashing of symbols (word 0 = length, then the bytes), with the
/// hash `nameHash` gives their bytes, so lookups by bytes agree with it.
let symbolHashing = GCWeakTable.Hashing.content(
    hash: { fnvHash(UnsafeRawBufferPointer(start: $0 + 8, count: $0.load(as: Int.self))) },
    equals: { a, b in
        symbolIsNamed(a, UnsafeRawBufferPointer(start: b + 8, count: b.load(as: Int.self)))
    })

@Suite struct WeakTableContentTests {
    /// A name → symbol table (weak values, the shape of the Lisp
    /// runtime): lookups by borrowed bytes find what lookups by key objects
    /// find, and removal by content removes it.
    @Test func lookupsByHashAndMatchAgreeWithKeyObjects() throws {
        let table = try GCWeakTable(weakness: .values, hashing: symbolHashing)
        let names = (0..<2_000).map { "name-\($0)" }
        var keys: [GCRoot] = []
        var values: [GCRoot] = []
        for name in names {
            var name = name
            try name.withUTF8 { utf8 in
                let bytes = UnsafeRawBufferPointer(utf8)
                let key = try newSymbol(bytes)
                let value = try makeTagged(keys.count)
                try table.setValue(value, forKey: key)
                keys.append(key)
                values.append(value)
            }
        }
        for (i, name) in names.enumerated() {
            var name = name
            let found = name.withUTF8 { utf8 in
                let bytes = UnsafeRawBufferPointer(utf8)
                return table.unsafeValue(hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
            }
            #expect(found == values[i].unsafeAddress)
            #expect(table[keys[i]]?.refersToSameObject(as: values[i]) == true)
        }
        var absent = "absent"
        #expect(!absent.withUTF8 { table.contains(hash: fnvHash(UnsafeRawBufferPointer($0))) { _ in true } })
        var name9 = "name-9"
        let removed = name9.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            return table.removeValue(hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
        }
        #expect(removed?.refersToSameObject(as: values[9]) == true)
        #expect(table[keys[9]] == nil)
        #expect(table.count == 1_999)
        withExtendedLifetime((keys, values)) {}
    }

    /// Get-or-insert by key object: the value found, or the one made (made
    /// only when absent); an error from the maker leaves the table as it was.
    @Test(arguments: [false, true])
    func getOrInsertByKeyObject(content: Bool) throws {
        let table = try GCWeakTable(weakness: .keys, hashing: content ? symbolHashing : .identity)
        var name = "key"
        let key = try name.withUTF8 { try newSymbol(UnsafeRawBufferPointer($0)) }
        let makes = Counter()
        let first = try table.value(forKey: key) {
            makes.increment()
            return try makeTagged(1)
        }
        let second = try table.value(forKey: key) {
            makes.increment()
            return try makeTagged(2)
        }
        #expect(makes.count == 1)
        #expect(second.refersToSameObject(as: first))
        #expect(tag(of: second) == 1)
        struct Refused: Error {}
        let other = try name.withUTF8 { try newSymbol(UnsafeRawBufferPointer($0)) }
        if content {
            // An equal key finds the entry: nothing to make.
            let found = try table.handle(forKey: other) { throw Refused() }
            #expect(found.unsafeAddress == first.unsafeAddress)
        } else {
            #expect(throws: Refused.self) { _ = try table.handle(forKey: other) { throw Refused() } }
            #expect(table.count == 1)
        }
        withExtendedLifetime((key, other)) {}
    }

    /// Interning by content into a name → symbol table from 4 threads:
    /// every thread gets the same symbol for each name.
    @Test func fourThreadsInternIntoATableWithoutDuplicates() throws {
        let names = (0..<2_000).map { "symbol-\($0)" }
        var duplicates = 0
        for run in 0..<20 {
            let table = try GCWeakTable(weakness: .values, hashing: symbolHashing)
            let results = Locked<[GCRoot]>([])
            onThreads(4) { thread in
                let held = try! GCRoot(byteCount: names.count * 8)
                for n in 0..<names.count {
                    let index = (n + thread * 500) % names.count
                    var name = names[index]
                    let symbol = try! name.withUTF8 { utf8 in
                        let bytes = UnsafeRawBufferPointer(utf8)
                        return try table.unsafeValue(hash: fnvHash(bytes), where: { symbolIsNamed($0, bytes) }) {
                            let key = try newSymbol(bytes)
                            let value = try makeTagged(index)
                            return (key.unsafeAddress, value.unsafeAddress)
                        }
                    }
                    held.unsafeAddress.storeBytes(of: symbol, toByteOffset: index * 8, as: UnsafeMutableRawPointer.self)
                    if thread == 0 && run % 5 == 0 && n == 1_000 { GC.collect() }
                }
                results.withLock { $0.append(held) }
            }
            let all = results.value
            for n in 0..<names.count {
                let seen = Set(all.map { $0.unsafeAddress.load(fromByteOffset: n * 8, as: UInt.self) })
                if seen.count != 1 { duplicates += 1 }
            }
            if table.count != names.count { duplicates += 1 }
        }
        print("4 threads interning into a table, 20 runs: \(duplicates) duplicates")
        #expect(duplicates == 0)
    }

    /// Lock-free content lookups race a writer that resizes the storage
    /// and collections that mark entries dead: a reader must always find its
    /// own kept keys, with their values.
    @Test(arguments: [GCWeakTable.Weakness.keys, .values])
    func contentLookupsDuringResizesAndCollections(weakness: GCWeakTable.Weakness) async throws {
        let table = try GCWeakTable(weakness: weakness, hashing: symbolHashing)
        let names = (0..<500).map { Array("kept-\($0)".utf8) }
        let keys = try names.map { name in try name.withUnsafeBytes { try newSymbol($0) } }
        let values = try (0..<500).map { try makeTagged(5_000 + $0) }
        for (k, v) in zip(keys, values) { try table.setValue(v, forKey: k) }
        let misses = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for round in 0..<20 {
                    try insertDoomedSymbols(into: table, count: 5_000, round: round)
                    GC.collect()
                }
                return 0
            }
            for _ in 0..<2 {
                group.addTask {
                    var misses = 0
                    for _ in 0..<40 {
                        for (i, name) in names.enumerated() {
                            let v = name.withUnsafeBytes { bytes in
                                table.unsafeValue(hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
                            }
                            if v != values[i].unsafeAddress { misses += 1 }
                        }
                        await Task.yield()
                    }
                    return misses
                }
            }
            var total = 0
            for try await m in group { total += m }
            return total
        }
        let s = table.statistics
        print("\(weakness) content lookups during \(s.resizes) resizes: \(misses) misses")
        #expect(misses == 0)
        #expect(s.resizes >= 4)
        withExtendedLifetime((keys, values)) {}
    }
}

/// Inserts `count` symbol entries whose weak side nothing else reaches.
@inline(never)
func insertDoomedSymbols(into table: GCWeakTable, count: Int, round: Int) throws {
    var keep: [GCRoot] = []
    for i in 0..<count {
        var name = "doomed-\(round)-\(i)"
        try name.withUTF8 { utf8 in
            let key = try newSymbol(UnsafeRawBufferPointer(utf8))
            let value = try makeTagged(i)
            try table.setValue(value, forKey: key)
            keep.append(table.weakness == .keys ? value : key)
        }
    }
}
