import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The sweep runs after the world restarts, inside the collection (the
/// sweep window): table operations run beside it. These tests run lookups,
/// inserts, replacements and removals from two threads while a third
/// collects, on a table large enough (hundreds of thousands of slots) for
/// each sweep to take milliseconds and to be shared with the helper thread.
@Suite struct WeakTableSweepWindowTests {
    static let kinds: [GCWeakTable.Weakness] = [.keys, .values, .keysAndValues]
    static let magic = 0x5EED_0000_0000

    /// A value tagged with `id`: word 0 a magic number plus the id, word 1
    /// the id negated. A value whose memory was freed and reused loses it.
    static func taggedValue(_ id: Int) throws -> GCRoot {
        let root = try GCRoot(byteCount: 32)
        root.withUnsafeMutableBytes {
            $0.storeBytes(of: magic + id, as: Int.self)
            $0.storeBytes(of: -id, toByteOffset: 8, as: Int.self)
        }
        return root
    }

    static func isTagged(_ address: UnsafeMutableRawPointer, _ id: Int) -> Bool {
        address.load(as: Int.self) == magic + id && address.load(fromByteOffset: 8, as: Int.self) == -id
    }

    /// Entries inserted, replaced and looked up during sweep windows: every
    /// entry the test keeps reachable is found with its latest value after
    /// every collection (the sweep never kills a slot written after mark
    /// end, nor one whose value was replaced meanwhile); every value a
    /// lookup returns carries the tag of its key (no target the collection
    /// found unreachable is returned, so none whose memory was reused);
    /// after a drain nothing dead is left and every dropped entry was found
    /// dead.
    @Test(arguments: kinds)
    func operationsBesideTheSweep(weakness: GCWeakTable.Weakness) throws {
        let table = try GCWeakTable(weakness: weakness)
        // 150 k kept entries: 256 Ki slots or more, swept in shared jobs.
        let stableCount = 150_000
        let stableKeys = try (0..<stableCount).map { try makeTagged($0) }
        let stableValues = try (0..<stableCount).map { try Self.taggedValue($0) }
        for i in 0..<stableCount { try table.setValue(stableValues[i], forKey: stableKeys[i]) }
        let windowsBefore = GCWeakTable.sweepWindowsOpened
        let running = RunFlag()
        let collections = 12

        let failures = Locked<[String]>([])
        onThreads(3) { thread in
            if thread == 0 {
                for _ in 0..<collections {
                    GC.collect()
                    usleep(5_000)
                }
                running.stop()
                return
            }
            let found: [String]
            do {
                found = try Self.work(
                    on: table, worker: thread - 1, weakness: weakness, stableKeys: stableKeys,
                    stableValues: stableValues, running: running)
            } catch {
                found = ["worker \(thread): \(error)"]
            }
            failures.withLock { $0 += found }
        }
        scrubStack()
        collectAndDrain()
        let s = table.statistics
        let windows = GCWeakTable.sweepWindowsOpened - windowsBefore
        print(
            "\(weakness): \(windows) sweep windows, live \(s.liveEntries), dead awaiting \(s.deadAwaitingVacuum), found dead \(s.entriesFoundDead), capacity \(s.capacity), failures \(failures.value.count)"
        )
        #expect(windows >= collections)
        let seen = failures.value
        #expect(seen.count == 0, "first failures: \(seen.prefix(5))")
        var lost = 0
        for i in 0..<stableCount {
            guard let v = table.unsafeValue(forKey: stableKeys[i].unsafeAddress),
                v == stableValues[i].unsafeAddress
            else {
                lost += 1
                continue
            }
        }
        #expect(lost == 0, "\(lost) kept entries lost")
        #expect(s.liveEntries >= stableCount && s.liveEntries <= stableCount + 64)
        #expect(s.deadAwaitingVacuum <= 16)
        withExtendedLifetime((stableKeys, stableValues)) {}
    }

    /// One worker's loop: look up kept entries, insert fresh ones it keeps,
    /// replace and remove some of them, and insert entries whose weak side
    /// it drops. Returns what went wrong.
    @inline(never)
    static func work(
        on table: GCWeakTable, worker: Int, weakness: GCWeakTable.Weakness, stableKeys: [GCRoot],
        stableValues: [GCRoot], running: RunFlag
    ) throws -> [String] {
        var failures: [String] = []
        var mine: [(GCRoot, GCRoot, Int)] = []
        var dropped: [(GCRoot, GCRoot)] = []
        var round = 0
        var random = SeededRandom(seed: UInt64(worker + 1))
        while (running.isRunning || round < 4) && round < 400 {
            round += 1
            // Lookups of kept entries: found, with their own values.
            for _ in 0..<2_000 {
                let i = Int.random(in: 0..<stableKeys.count, using: &random)
                guard let v = table.unsafeValue(forKey: stableKeys[i].unsafeAddress) else {
                    failures.append("kept entry \(i) not found in round \(round)")
                    continue
                }
                if v != stableValues[i].unsafeAddress || !isTagged(v, i) {
                    failures.append("kept entry \(i) has a wrong value in round \(round)")
                }
            }
            // Fresh entries the worker keeps, some replaced, some removed.
            for n in 0..<500 {
                let id = 1_000_000 * (worker + 1) + round * 1_000 + n
                let key = try makeTagged(id)
                let value = try taggedValue(id)
                try table.setValue(value, forKey: key)
                if n % 5 == 0 {
                    let replacement = try taggedValue(id)
                    try table.setValue(replacement, forKey: key)
                    mine.append((key, replacement, id))
                } else if n % 7 == 0 {
                    if table.removeValue(forKey: key) == nil {
                        failures.append("fresh entry \(id) not removable")
                    }
                } else {
                    mine.append((key, value, id))
                }
            }
            // Entries whose weak side the worker drops at once (the weak-value
            // ones keep their keys, and are looked up: a returned value must
            // carry the key's tag).
            for n in 0..<500 {
                let id = 5_000_000 * (worker + 1) + round * 1_000 + n
                let key = try makeTagged(id)
                let value = try taggedValue(id)
                try table.setValue(value, forKey: key)
                switch weakness {
                case .keys: break
                case .values, .keysAndValues: dropped.append((key, value))
                }
            }
            if dropped.count > 2_000 { dropped.removeFirst(1_000) }
            // Values found for entries whose value was dropped are rooted
            // here; they must stay intact through the round's allocations
            // and the collections meanwhile (a value the collection found
            // unreachable would be freed, and its memory reused).
            var found: [(GCRoot, Int)] = []
            for _ in 0..<10 {
                for (key, _) in dropped {
                    let id = tag(of: key)
                    if let v = table.unsafeValue(forKey: key.unsafeAddress) {
                        if found.count < 2_000 { found.append((try GCRoot(unsafeAddress: v), id)) }
                    }
                }
            }
            // Drop the values of this round's weak-value entries: they die next.
            dropped = dropped.map { (key, _) in (key, key) }
            for _ in 0..<2_000 { _ = try makeTagged(-1) }
            for (value, id) in found where !isTagged(value.unsafeAddress, id) {
                failures.append("entry \(id) returned a value that lost its tag")
            }
            // Every fresh entry kept so far is still there.
            for (key, value, id) in mine.suffix(1_000) {
                guard let v = table.unsafeValue(forKey: key.unsafeAddress) else {
                    failures.append("fresh entry \(id) lost in round \(round)")
                    continue
                }
                if v != value.unsafeAddress { failures.append("fresh entry \(id) has a wrong value") }
            }
            if failures.count > 100 { break }
        }
        for (key, value, id) in mine where table.unsafeValue(forKey: key.unsafeAddress) != value.unsafeAddress {
            failures.append("fresh entry \(id) lost at the end")
        }
        withExtendedLifetime((mine, stableKeys, stableValues)) {}
        return failures
    }
}

/// A flag one task clears to stop the others.
final class RunFlag: Sendable {
    private let running = Atomic<Bool>(true)
    var isRunning: Bool { running.load(ordering: .acquiring) }
    func stop() { running.store(false, ordering: .releasing) }
}

extension WeakTableSweepWindowTests {
    /// A weak-value table of 400 k entries, half of whose values are dropped
    /// before each collection; a reader looks those entries up all through
    /// the collections, and gets-or-inserts one in eight (a new value for a
    /// dying entry must be found by a lookup right after). Each value it
    /// gets is rooted and checked after the collection and many allocations
    /// of its size: a value the collection found unreachable would have been
    /// freed, and its memory reused.
    @Test func lookupsBesideTheSweepReturnOnlyLiveValues() throws {
        let table = try GCWeakTable(weakness: .values)
        let count = 400_000
        let keys = try (0..<count).map { try makeTagged($0) }
        var values = try (0..<count).map { try Self.taggedValue($0) }
        for i in 0..<count { try table.setValue(values[i], forKey: keys[i]) }
        let before = GCWeakTable.sweepWindowsOpened
        var failures: [String] = []
        var returned = 0
        for round in 0..<6 {
            // Drop every other value still held.
            for i in stride(from: round % 2, to: count, by: 2) where i % 4 != 3 {
                values[i] = keys[i]
            }
            let running = RunFlag()
            let found = Locked<[(GCRoot, Int)]>([])
            let getOrInsertLost = Locked(0)
            let lookupsNotObjects = Locked(0)
            // Values for get-or-insert, made before: a maker that allocated
            // would wait for the collection (libgc's lock) and so miss the
            // sweep window.
            let spare = try GCRoot(byteCount: 20_000 * 8)
            for n in 0..<20_000 {
                spare.unsafeAddress.storeBytes(
                    of: try Self.taggedValue(n).unsafeAddress, toByteOffset: n * 8, as: UnsafeMutableRawPointer.self)
            }
            onThreads(2) { thread in
                if thread == 0 {
                    usleep(1_000)
                    GC.collect()
                    running.stop()
                    return
                }
                var mine: [(GCRoot, Int)] = []
                var lost = 0
                var notObjects = 0
                var spent = 0
                var i = 0
                // Through the collection, and one batch after it (where the
                // dead entries show DEAD and get-or-insert replaces them).
                var after = 1
                while running.isRunning || after > 0 {
                    if !running.isRunning { after -= 1 }
                    for k in 0..<1_000 {
                        i = (i &+ 7_919) % count
                        if k % 8 == 0 && spent < 20_000 {
                            // Get-or-insert: a dying entry gives way to a new
                            // one, which a lookup right after must find.
                            let key = keys[i].unsafeAddress
                            let v = try! table.unsafeValue(forKey: key) {
                                defer { spent += 1 }
                                return spare.unsafeAddress.load(
                                    fromByteOffset: spent * 8, as: UnsafeMutableRawPointer.self)
                            }
                            if table.unsafeValue(forKey: key) != v { lost += 1 }
                        } else if let v = table.unsafeValue(forKey: keys[i].unsafeAddress), mine.count < 100_000 {
                            // A value that is no GC object's start is a
                            // freed one the sweep should have cleared.
                            if let root = try? GCRoot(unsafeAddress: v) {
                                mine.append((root, i))
                            } else {
                                notObjects += 1
                            }
                        }
                    }
                }
                if lost > 0 { getOrInsertLost.withLock { $0 += lost } }
                if notObjects > 0 { lookupsNotObjects.withLock { $0 += notObjects } }
                found.withLock { $0 = mine }
            }
            for _ in 0..<200_000 { _ = try makeTagged(-round) }
            if lookupsNotObjects.value > 0 {
                failures.append(
                    "round \(round): \(lookupsNotObjects.value) lookups returned an address that starts no GC object")
            }
            if getOrInsertLost.value > 0 {
                failures.append(
                    "round \(round): \(getOrInsertLost.value) values from get-or-insert not found by a lookup right after"
                )
            }
            returned += found.value.count
            for (value, id) in found.value {
                // The reader holds the value, so the collection kept it and
                // its entry: a value the marker had not reached would have
                // lost its entry to the sweep (and its memory to the heap).
                if table.unsafeValue(forKey: keys[id].unsafeAddress) != value.unsafeAddress {
                    failures.append("round \(round): entry \(id) lost the value a lookup returned")
                } else if !Self.isTagged(value.unsafeAddress, id) {
                    failures.append("round \(round): entry \(id) returned a value that lost its tag")
                }
            }
        }
        let windows = GCWeakTable.sweepWindowsOpened - before
        print("lookups beside the sweep: \(windows) windows, \(returned) values returned, \(failures.count) failures")
        #expect(failures.count == 0, "first failures: \(failures.prefix(5))")
        withExtendedLifetime((keys, values)) {}
    }
}
