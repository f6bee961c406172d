import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A symbol for the interning tests: a pointer-free GC object holding its
/// name's length in word 0, then the bytes.
func newSymbol(_ name: UnsafeRawBufferPointer) throws -> GCRoot {
    let symbol = try GCRoot(byteCount: 8 + name.count, kind: .pointerFree)
    symbol.withUnsafeMutableBytes { bytes in
        bytes.storeBytes(of: name.count, as: Int.self)
        UnsafeMutableRawBufferPointer(rebasing: bytes[8..<(8 + name.count)]).copyMemory(from: name)
    }
    return symbol
}

/// FNV-1a over the bytes: the hash a symbol is interned with.
func fnvHash(_ name: UnsafeRawBufferPointer) -> Int {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in name { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return Int(bitPattern: UInt(h))
}

/// Whether the symbol at `symbol` has the name `name`.
func symbolIsNamed(_ symbol: UnsafeRawPointer, _ name: UnsafeRawBufferPointer) -> Bool {
    symbol.load(as: Int.self) == name.count && memcmp(symbol + 8, name.baseAddress!, name.count) == 0
}

/// Interns `name` in `symbols`: the symbol already there, or a new one.
func internName(_ name: String, in symbols: GCWeakSet) throws -> UnsafeMutableRawPointer {
    var name = name
    return try name.withUTF8 { utf8 in
        let bytes = UnsafeRawBufferPointer(utf8)
        return try symbols.unsafeElement(hash: fnvHash(bytes), where: { symbolIsNamed($0, bytes) }) {
            try newSymbol(bytes).unsafeAddress
        }
    }
}

@Suite struct WeakSetTests {
    @Test func addLookUpAndRemoveByContent() throws {
        let symbols = try GCWeakSet()
        let names = (0..<3_000).map { "name-\($0)" }
        var kept: [GCRoot] = []
        for name in names {
            var name = name
            let symbol = try name.withUTF8 { utf8 in
                let bytes = UnsafeRawBufferPointer(utf8)
                return try symbols.add(try newSymbol(bytes), hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
            }
            kept.append(symbol)
        }
        #expect(symbols.count == 3_000)
        // Adding an equal symbol returns the one already there.
        var again = "name-17"
        let second = try again.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            return try symbols.add(try newSymbol(bytes), hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
        }
        #expect(second.refersToSameObject(as: kept[17]))
        #expect(symbols.count == 3_000)
        // Lookups by borrowed bytes find each symbol, and miss absent names.
        for (i, name) in names.enumerated() {
            var name = name
            let found = name.withUTF8 { utf8 in
                let bytes = UnsafeRawBufferPointer(utf8)
                return symbols.unsafeElement(hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
            }
            #expect(found == kept[i].unsafeAddress)
        }
        var absent = "absent"
        #expect(!absent.withUTF8 { symbols.contains(hash: fnvHash(UnsafeRawBufferPointer($0))) { _ in true } })
        // Remove by content.
        var name5 = "name-5"
        let removed = name5.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            return symbols.remove(hash: fnvHash(bytes)) { symbolIsNamed($0, bytes) }
        }
        #expect(removed?.refersToSameObject(as: kept[5]) == true)
        #expect(symbols.count == 2_999)
        var seen = 0
        symbols.forEach { _ in seen += 1 }
        #expect(seen == 2_999)
        let s = symbols.statistics
        print("weak set: \(s.liveEntries) elements in \(s.capacity) slots, \(s.storageBytes) bytes")
        #expect(s.storageBytes == s.capacity * 16)
        withExtendedLifetime(kept) {}
    }

    /// Symbols nobody holds go with a collection; held ones stay, and are
    /// found again by name.
    @Test func unusedSymbolsGoHeldOnesStay() throws {
        let symbols = try GCWeakSet()
        let held = try (0..<100).map { try GCRoot(unsafeAddress: internName("held-\($0)", in: symbols)) }
        try internAndDrop(count: 10_000, in: symbols)
        scrubStack()
        collectAndDrain()
        let s = symbols.statistics
        print(
            "weak set after dropping 10,000: \(s.liveEntries) live, found dead \(s.entriesFoundDead), capacity \(s.capacity)"
        )
        #expect(symbols.count >= 100 && symbols.count <= 100 + 16)
        for i in 0..<100 {
            #expect(try internName("held-\(i)", in: symbols) == held[i].unsafeAddress)
        }
        #expect(s.capacity <= 1_024)
    }

    /// The test: 4 threads intern the same 2,000 names through
    /// get-or-insert, 100 times (a new set each time), with collections
    /// meanwhile; every thread must get the same symbol for each name.
    @Test func fourThreadsInternTheSameNamesWithoutDuplicates() throws {
        let names = (0..<2_000).map { "symbol-\($0)" }
        var duplicates = 0
        var made = 0
        for run in 0..<100 {
            let symbols = try GCWeakSet()
            // Each thread keeps its symbols, in name order, in a scanned GC
            // array (a symbol nobody holds may go, and come back as another).
            let results = Locked<[GCRoot]>([])
            let makes = Counter()
            onThreads(4) { thread in
                let held = try! GCRoot(byteCount: names.count * 8)
                // Each thread walks the names from its own starting point.
                for n in 0..<names.count {
                    let index = (n + thread * 500) % names.count
                    var name = names[index]
                    let symbol = try! name.withUTF8 { utf8 in
                        let bytes = UnsafeRawBufferPointer(utf8)
                        return try symbols.unsafeElement(hash: fnvHash(bytes), where: { symbolIsNamed($0, bytes) }) {
                            makes.increment()
                            return try newSymbol(bytes).unsafeAddress
                        }
                    }
                    held.unsafeAddress.storeBytes(of: symbol, toByteOffset: index * 8, as: UnsafeMutableRawPointer.self)
                    if thread == 0 && run % 10 == 0 && n == 1_000 { GC.collect() }
                }
                results.withLock { $0.append(held) }
            }
            let all = results.value
            for n in 0..<names.count {
                let seen = Set(all.map { $0.unsafeAddress.load(fromByteOffset: n * 8, as: UInt.self) })
                if seen.count != 1 { duplicates += 1 }
            }
            made += makes.count
            if symbols.count != names.count { duplicates += 1 }
        }
        print("4 threads x 2,000 names x 100 runs: \(duplicates) duplicates, \(made) symbols made (200,000 kept)")
        #expect(duplicates == 0)
    }

    /// A lookup by bytes allocates nothing: no GC bytes, no malloc bytes
    /// (process-wide counters, so in a child of its own; 0 and 0 on a quiet
    /// machine).
    @Test func lookupsByBytesAllocateNothing() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let symbols = try! GCWeakSet()
            let names = (0..<1_000).map { Array("name-\($0)".utf8) }
            let kept = try! names.map { name in
                try name.withUnsafeBytes { bytes in
                    try GCRoot(unsafeAddress: internName(String(decoding: bytes, as: UTF8.self), in: symbols))
                }
            }
            var hits = 0
            // One pass first: the runtime makes what a first call needs
            // (type metadata) with malloc once.
            for name in names {
                name.withUnsafeBytes { bytes in
                    _ = symbols.unsafeElement(hash: fnvHash(bytes), where: { symbolIsNamed($0, bytes) })
                }
            }
            // The finalizer thread's hooks for the collections above run
            // first (a loaded machine may delay them into the measure).
            GC.runFinalizers()
            let gcBefore = GC.statistics.totalBytesAllocated
            let mallocBefore = ForeignResources.mallocBytesInUse
            for _ in 0..<100 {
                for name in names {
                    name.withUnsafeBytes { bytes in
                        if symbols.unsafeElement(hash: fnvHash(bytes), where: { symbolIsNamed($0, bytes) }) != nil {
                            hits += 1
                        }
                    }
                }
            }
            let gcBytes = GC.statistics.totalBytesAllocated - gcBefore
            let mallocBytes = ForeignResources.mallocBytesInUse - mallocBefore
            // Under a byte per lookup: an allocation per lookup (16 bytes at
            // least) would show 1.6 MB; the library's own threads (the
            // finalizer thread running a late post-GC hook) may add a few
            // bytes meanwhile, process-wide.
            report.check(hits == 100_000, "\(hits) hits of 100,000 lookups")
            report.check(gcBytes < 100_000, "\(gcBytes) GC bytes allocated during 100,000 lookups")
            report.check(mallocBytes < 100_000, "\(mallocBytes) malloc bytes more in use after them")
            withExtendedLifetime(kept) {}
            report.exit()
        }
        report.show()
    }
}

/// Interns `count` names and drops their symbols, in a frame of its own.
@inline(never)
func internAndDrop(count: Int, in symbols: GCWeakSet) throws {
    for i in 0..<count { _ = try internName("dropped-\(i)", in: symbols) }
}
