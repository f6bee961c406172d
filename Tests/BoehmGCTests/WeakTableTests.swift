import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A 32-byte scanned object whose first word is `tag`.
func makeTagged(_ tag: Int, byteCount: Int = 32) throws -> GCRoot {
    let root = try GCRoot(byteCount: byteCount)
    root.withUnsafeMutableBytes { $0.storeBytes(of: tag, as: Int.self) }
    return root
}

func tag(of root: GCRoot) -> Int {
    root.withUnsafeMutableBytes { $0.load(as: Int.self) }
}

/// Inserts `count` entries whose weak side is reachable from nothing but
/// the table (the other side rooted in `keep`, which the caller holds), in a
/// frame of its own so no address lingers in the caller's.
@inline(never)
func insertDoomedEntries(
    into table: GCWeakTable, count: Int, firstTag: Int, keep: inout [GCRoot]
) throws {
    for i in 0..<count {
        let key = try makeTagged(firstTag + i)
        let value = try makeTagged(-(firstTag + i))
        try table.setValue(value, forKey: key)
        switch table.weakness {
        case .keys: keep.append(value)
        case .values: keep.append(key)
        case .keysAndValues: break
        }
    }
}

/// Content hashing of GC strings (word 0 = length, then the bytes).
let gcStringHashing = GCWeakTable.Hashing.content(
    hash: { p in
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(start: p + 8, count: p.load(as: Int.self)))
        return h.finalize()
    },
    equals: { a, b in
        a.load(as: Int.self) == b.load(as: Int.self) && memcmp(a + 8, b + 8, a.load(as: Int.self)) == 0
    })

/// A GC string: a pointer-free object, its length in word 0, then the bytes.
func gcString(_ s: String) throws -> GCRoot {
    let utf8 = Array(s.utf8)
    let root = try GCRoot(byteCount: 8 + utf8.count, kind: .pointerFree)
    root.withUnsafeMutableBytes { buffer in
        buffer.storeBytes(of: utf8.count, as: Int.self)
        for (i, b) in utf8.enumerated() { buffer[8 + i] = b }
    }
    return root
}

/// Sets `name-i` → `i` for each i with a first key object, then again with a
/// second, equal one; returns the second keys (the first are dropped here).
@inline(never)
func setTwiceThroughEqualKeys(_ table: GCWeakTable, count: Int) throws -> [GCRoot] {
    var second: [GCRoot] = []
    for i in 0..<count {
        try table.setValue(try makeTagged(-i), forKey: try gcString("name-\(i)"))
        let key = try gcString("name-\(i)")
        try table.setValue(try makeTagged(i), forKey: key)
        second.append(key)
    }
    return second
}

@Suite struct WeakTableTests {
    static let kinds: [GCWeakTable.Weakness] = [.keys, .values, .keysAndValues]

    @Test(arguments: kinds)
    func basicOperations(weakness: GCWeakTable.Weakness) throws {
        let table = try GCWeakTable(weakness: weakness)
        let keys = try (0..<1_000).map { try makeTagged($0) }
        let values = try (0..<1_000).map { try makeTagged(10_000 + $0) }
        for (k, v) in zip(keys, values) { try table.setValue(v, forKey: k) }
        #expect(table.count == 1_000)
        for (i, k) in keys.enumerated() {
            #expect(table[k].map(tag(of:)) == 10_000 + i)
            #expect(table.contains(k))
        }
        let stranger = try makeTagged(-1)
        #expect(table[stranger] == nil)
        #expect(!table.contains(stranger))
        #expect(table.removeValue(forKey: stranger) == nil)

        // Replace keeps one entry per key.
        let replacement = try makeTagged(77)
        try table.setValue(replacement, forKey: keys[3])
        #expect(table.count == 1_000)
        #expect(table[keys[3]].map(tag(of:)) == 77)

        // Remove every other key.
        for k in keys.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
            #expect(table.removeValue(forKey: k) != nil)
        }
        #expect(table.count == 500)
        #expect(table[keys[0]] == nil)
        #expect(table[keys[1]].map(tag(of:)) == 10_001)

        var seen = 0
        table.forEach { k, v in
            seen += 1
            #expect(tag(of: k) % 2 == 1)
            #expect(tag(of: v) == (tag(of: k) == 3 ? 77 : 10_000 + tag(of: k)))
        }
        #expect(seen == 500)

        table.removeAll()
        #expect(table.count == 0)
        #expect(table[keys[1]] == nil)
        let stats = table.statistics
        print("\(weakness) after removeAll: capacity \(stats.capacity) resizes \(stats.resizes)")
        #expect(stats.capacity <= 16)
        withExtendedLifetime((keys, values, replacement)) {}
    }

    @Test(arguments: kinds)
    func droppedEntriesAreClearedAndHandedOn(weakness: GCWeakTable.Weakness) throws {
        let handed = Counter()
        let badTag = Counter()
        let table = try GCWeakTable(weakness: weakness) { strong in
            handed.increment()
            // The strong half arrives intact: for .keys the value (negative
            // tag), for .values the key (positive tag).
            let t = tag(of: strong)
            if (weakness == .keys && t >= 0) || (weakness == .values && t <= 0) { badTag.increment() }
        }
        var keep: [GCRoot] = []
        try insertDoomedEntries(into: table, count: 10_000, firstTag: 1, keep: &keep)
        // Collections may already have found some dead.
        #expect(table.count + table.statistics.entriesFoundDead >= 10_000)
        scrubStack()
        collectAndDrain()
        let stats = table.statistics
        print(
            "\(weakness): live \(table.count) dead awaiting \(stats.deadAwaitingVacuum) found dead \(stats.entriesFoundDead) handed on \(handed.count) vacuums \(stats.vacuums) capacity \(stats.capacity)"
        )
        // A conservative collector may keep a few through stale stack words.
        #expect(table.count <= 16)
        // Only those can be dead now (a parallel test's collection may find
        // one dead before we read); a vacuum that leaked would leave thousands.
        #expect(stats.deadAwaitingVacuum <= 16)
        if weakness == .keysAndValues {
            #expect(handed.count == 0)
        } else {
            #expect(handed.count >= 10_000 - 16)
        }
        #expect(badTag.count == 0)
        // Shrunk back (live below a quarter).
        #expect(stats.capacity <= 128)
        withExtendedLifetime(keep) {}
    }

    @Test func contentHashing() throws {
        let hashing = gcStringHashing
        let table = try GCWeakTable(weakness: .values, hashing: hashing)
        let words = (0..<2_000).map { "word-\($0)" }
        let keys = try words.map(gcString)
        let values = try (0..<2_000).map { try makeTagged($0) }
        for (k, v) in zip(keys, values) { try table.setValue(v, forKey: k) }
        // Probe with fresh, equal-content objects.
        for (i, w) in words.enumerated() {
            #expect(table[try gcString(w)].map(tag(of:)) == i)
        }
        #expect(table[try gcString("absent")] == nil)
        // Replacing through an equal key keeps one entry.
        try table.setValue(values[5], forKey: try gcString("word-0"))
        #expect(table.count == 2_000)
        #expect(table[keys[0]].map(tag(of:)) == 5)
        #expect(table.removeValue(forKey: try gcString("word-1")) != nil)
        #expect(table.count == 1_999)
        let stats = table.statistics
        let bytesPerEntry = Double(stats.storageBytes) / Double(stats.liveEntries)
        print("content table: capacity \(stats.capacity) bytes/entry \(bytesPerEntry)")
        #expect(bytesPerEntry <= 64)
        withExtendedLifetime((keys, values)) {}
    }

    /// A weak-key entry set again through an equal but different key lives
    /// as long as that key: the first key object, no longer used by anyone,
    /// must not take the entry with it.
    @Test func contentHashedEntryFollowsTheLatestKey() throws {
        let table = try GCWeakTable(weakness: .keys, hashing: gcStringHashing)
        let keys = try setTwiceThroughEqualKeys(table, count: 100)
        scrubStack()
        collectAndDrain()
        let found = keys.enumerated().count { i, key in table[key].map(tag(of:)) == i }
        #expect(
            found == 100 && table.count == 100,
            "entries found through the keys kept: \(found) of 100, count \(table.count)")
        withExtendedLifetime(keys) {}
    }

    @Test func bytesPerEntryIdentity() throws {
        let table = try GCWeakTable(weakness: .keys)
        let value = try makeTagged(0)
        let keys = try (0..<100_000).map { _ in try GCRoot(byteCount: 16, kind: .pointerFree) }
        var worst = 0.0
        for (i, k) in keys.enumerated() {
            try table.setValue(value, forKey: k)
            if i >= 1_000 && i % 997 == 0 {
                let s = table.statistics
                worst = max(worst, Double(s.storageBytes) / Double(s.liveEntries))
            }
        }
        let s = table.statistics
        print("identity table: 100k entries, capacity \(s.capacity), worst bytes/entry while growing \(worst)")
        #expect(worst <= 64)
        withExtendedLifetime((keys, value)) {}
    }

    @Test func concurrentUse() async throws {
        let table = try GCWeakTable(weakness: .keys)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<4 {
                group.addTask {
                    var lost = 0
                    var mine: [(GCRoot, GCRoot)] = []
                    for i in 0..<3_000 {
                        let k = try makeTagged(t * 100_000 + i)
                        let v = try makeTagged(-(t * 100_000 + i))
                        try table.setValue(v, forKey: k)
                        if i % 3 == 0 { mine.append((k, v)) }
                        if i % 1_000 == 0 { GC.collect() }
                        if i % 500 == 0 { table.forEach { _, _ in } }
                    }
                    for (k, v) in mine where table[k].map(tag(of:)) != tag(of: v) { lost += 1 }
                    for (k, _) in mine.prefix(100) where table.removeValue(forKey: k) == nil { lost += 1 }
                    return lost
                }
            }
            var lost = 0
            for try await l in group { lost += l }
            #expect(lost == 0)
        }
        collectAndDrain()
        print("concurrent: live after \(table.count) \(table.statistics)")
        #expect(table.count <= 4 * 900 + 16)
    }

    /// Lock-free lookups (identity tables) race writers that resize the
    /// storage and collections that mark entries dead: a reader must always
    /// find its own rooted keys, with their values.
    @Test(arguments: kinds)
    func lookupsDuringResizesAndCollections(weakness: GCWeakTable.Weakness) async throws {
        let table = try GCWeakTable(weakness: weakness)
        let keys = try (0..<500).map { try makeTagged($0) }
        let values = try (0..<500).map { try makeTagged(5_000 + $0) }
        for (k, v) in zip(keys, values) { try table.setValue(v, forKey: k) }
        let misses = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                // Writer: doomed entries force growth, collections force
                // shrinking vacuums.
                for round in 0..<20 {
                    try insertDoomed(into: table, count: 5_000, firstTag: 1_000_000 + round)
                    GC.collect()
                }
                return 0
            }
            for _ in 0..<2 {
                group.addTask {
                    var misses = 0
                    for _ in 0..<40 {
                        for (i, k) in keys.enumerated() {
                            guard let v = table.unsafeValue(forKey: k.unsafeAddress) else {
                                misses += 1
                                continue
                            }
                            if v != values[i].unsafeAddress { misses += 1 }
                            if !table.unsafeContains(k.unsafeAddress) { misses += 1 }
                        }
                    }
                    return misses
                }
            }
            var total = 0
            for try await m in group { total += m }
            return total
        }
        let s = table.statistics
        print("\(weakness) lock-free lookups during \(s.resizes) resizes: \(misses) misses")
        #expect(misses == 0)
        #expect(s.resizes >= 4)
        withExtendedLifetime((keys, values)) {}
    }
}
