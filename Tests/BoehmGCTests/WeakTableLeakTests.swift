import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What one churn run saw.
struct ChurnFigures: CustomStringConvertible {
    var peakLive = 0
    var maxCapacity = 0
    var maxStorageBytes = 0
    var maxDeadHeld = 0
    var collections: UInt64 = 0
    var liveAfter = 0
    var deadAfter = 0
    var capacityAfter = 0
    var storageAfter = 0
    var vacuums = 0
    var vacuumTime = Duration.zero

    var description: String {
        "peak live \(peakLive), max capacity \(maxCapacity) (\(maxStorageBytes / 1024) KiB), max dead held \(maxDeadHeld), collections \(collections); after drain: live \(liveAfter), dead \(deadAfter), capacity \(capacityAfter) (\(storageAfter) B); vacuums \(vacuums) in \(vacuumTime)"
    }
}

/// Inserts `count` entries of fresh 16-byte objects that nothing else
/// references, so both sides die at once, sampling the table every 256
/// inserts. In a frame of its own so no address lingers in the caller's.
@inline(never)
func churn(_ table: GCWeakTable, count: Int) throws -> ChurnFigures {
    var figures = ChurnFigures()
    let start = GC.collectionCount
    for i in 0..<count {
        let key = try GC.unsafeAllocate(byteCount: 16, kind: .pointerFree)
        let value = try GC.unsafeAllocate(byteCount: 16, kind: .pointerFree)
        try table.unsafeSetValue(value, forKey: key)
        if i & 255 == 0 {
            let s = table.statistics
            figures.peakLive = max(figures.peakLive, s.liveEntries)
            figures.maxCapacity = max(figures.maxCapacity, s.capacity)
            figures.maxStorageBytes = max(figures.maxStorageBytes, s.storageBytes)
            figures.maxDeadHeld = max(figures.maxDeadHeld, s.deadAwaitingVacuum)
        }
    }
    figures.collections = GC.collectionCount - start
    return figures
}

func drainAndRecord(_ table: GCWeakTable, _ figures: inout ChurnFigures) {
    scrubStack()
    collectAndDrain()
    let s = table.statistics
    figures.liveAfter = s.liveEntries
    figures.deadAfter = s.deadAwaitingVacuum
    figures.capacityAfter = s.capacity
    figures.storageAfter = s.storageBytes
    figures.vacuums = s.vacuums
    figures.vacuumTime = s.vacuumTime
}

/// Inserts `count` entries whose weak side nothing else reaches.
@inline(never)
func insertDoomed(into table: GCWeakTable, count: Int, firstTag: Int) throws {
    var keep: [GCRoot] = []
    try insertDoomedEntries(into: table, count: count, firstTag: firstTag, keep: &keep)
}

@Suite struct WeakTableLeakTests {
    static let kinds: [GCWeakTable.Weakness] = [.keys, .values, .keysAndValues]
    static let churnCount = 1_000_000
    /// Stale words on a stack may keep a few entries alive (conservative
    /// scanning); more than this is a leak. Since the scrub clears the dead
    /// stack for real (StackScrubTests), every run has left 0; 4 leaves room
    /// for words in registers and in frames the scrub cannot reach.
    static let staleAllowance = 4

    @Test(arguments: kinds)
    func millionKeyChurnEagerVersusLazy(weakness: GCWeakTable.Weakness) throws {
        let eager = try GCWeakTable(weakness: weakness)
        var e = try churn(eager, count: Self.churnCount)
        drainAndRecord(eager, &e)

        let lazy = try GCWeakTable(weakness: weakness, vacuum: .lazyOnly)
        var l = try churn(lazy, count: Self.churnCount)
        drainAndRecord(lazy, &l)
        print("\(weakness) 1M churn eager: \(e)")
        print("\(weakness) 1M churn lazy:  \(l)")

        // Eager: capacity follows the peak of live entries (entries whose
        // weak side no collection has yet found dead), not the 1M that went
        // through: growth vacuums first and sizes for at most half load.
        #expect(e.maxCapacity <= 4 * (e.peakLive + 256) + 8)
        #expect(e.maxStorageBytes <= 64 * (e.peakLive + 256) + 128)
        #expect(e.liveAfter <= Self.staleAllowance)
        // Only entries live at the drain can be dead now: a parallel test's
        // collection may find a stale-kept one dead before we read.
        #expect(e.deadAfter <= Self.staleAllowance)
        #expect(e.capacityAfter <= 64)

        // Lazy: the dead entries stay in the table (and, for weak keys,
        // their values stay alive) until something probes or vacuums them.
        #expect(l.liveAfter <= Self.staleAllowance)
        #expect(l.deadAfter >= 1_000)
        #expect(l.capacityAfter >= 8 * e.capacityAfter)
        lazy.vacuum()
        let s = lazy.statistics
        print("\(weakness) lazy after an explicit vacuum: dead \(s.deadAwaitingVacuum), capacity \(s.capacity)")
        #expect(s.deadAwaitingVacuum <= Self.staleAllowance)
        #expect(s.capacity <= 64)
    }

    /// The ports' case: every dead entry's strong half must reach
    /// onDeadEntry. The eager table hands them on after every collection;
    /// the lazy one only when an insert probes them, so it holds dead entries
    /// (and their values) until an explicit vacuum.
    @Test func churnWithDeadEntryCallback() throws {
        let count = 300_000
        let eagerHanded = Counter()
        let lazyHanded = Counter()
        let eager = try GCWeakTable(weakness: .keys) { _ in eagerHanded.increment() }
        var e = try churn(eager, count: count)
        drainAndRecord(eager, &e)
        let lazy = try GCWeakTable(weakness: .keys, vacuum: .lazyOnly) { _ in lazyHanded.increment() }
        var l = try churn(lazy, count: count)
        drainAndRecord(lazy, &l)
        let lazyHandedBeforeVacuum = lazyHanded.count
        print("keys+onDeadEntry 300k churn eager: \(e); handed on \(eagerHanded.count)")
        print("keys+onDeadEntry 300k churn lazy:  \(l); handed on \(lazyHandedBeforeVacuum)")
        #expect(e.maxCapacity <= 4 * (e.peakLive + 256) + 8)
        #expect(eagerHanded.count >= count - Self.staleAllowance)
        // A parallel test's collection may find a stale-kept entry dead
        // after the drain; a vacuum that leaked would leave thousands.
        #expect(e.deadAfter <= Self.staleAllowance)
        #expect(l.deadAfter >= 1_000)
        #expect(l.capacityAfter >= 8 * e.capacityAfter)
        lazy.vacuum()
        print("lazy after an explicit vacuum: handed on \(lazyHanded.count), \(lazy.statistics.capacity) slots")
        #expect(lazyHanded.count >= count - Self.staleAllowance)
        #expect(lazy.statistics.deadAwaitingVacuum <= Self.staleAllowance)
    }

    @Test(arguments: kinds)
    func reachableEntriesSurviveCollectionsAndResizes(weakness: GCWeakTable.Weakness) throws {
        let table = try GCWeakTable(weakness: weakness)
        let keys = try (0..<2_000).map { try makeTagged($0) }
        let values = try (0..<2_000).map { try makeTagged(1_000_000 + $0) }
        for (k, v) in zip(keys, values) { try table.setValue(v, forKey: k) }
        let startCollections = GC.collectionCount
        var lost = 0
        var corrupted = 0
        var capacities: Set<Int> = []
        for round in 0..<100 {
            // Doomed entries make the table grow; their death makes it shrink.
            try insertDoomed(into: table, count: round % 10 == 0 ? 20_000 : 1_000, firstTag: 10_000_000)
            capacities.insert(table.statistics.capacity)
            if round % 7 == 0 {
                for i in stride(from: round, to: 2_000, by: 50) {
                    table.removeValue(forKey: keys[i])
                    try table.setValue(values[i], forKey: keys[i])
                }
            }
            GC.collect()
            GC.runFinalizers()
            capacities.insert(table.statistics.capacity)
            for (i, k) in keys.enumerated() {
                guard let v = table[k] else {
                    lost += 1
                    continue
                }
                if tag(of: v) != 1_000_000 + i || !v.refersToSameObject(as: values[i]) { corrupted += 1 }
            }
        }
        let s = table.statistics
        let collections = GC.collectionCount - startCollections
        print(
            "\(weakness): 100 rounds, \(collections) collections, \(s.resizes) resizes, capacities \(capacities.sorted()), lost \(lost), corrupted \(corrupted), found dead \(s.entriesFoundDead)"
        )
        #expect(lost == 0)
        #expect(corrupted == 0)
        #expect(collections >= 100)
        #expect(s.resizes >= 10)
        #expect(table.count >= 2_000)
        #expect(table.count <= 2_000 + Self.staleAllowance)
        withExtendedLifetime((keys, values)) {}
    }

    /// bdwgc 8.2.2 has no ephemerons: a weak-key entry whose value references
    /// its own key keeps the key reachable through the table's strong half,
    /// so it is never removed (documented on GCWeakTable). The control table
    /// proves the same entries without the back-reference do go.
    @Test func valueReferencingItsKeyIsNeverRemoved() throws {
        let cyclic = try GCWeakTable(weakness: .keys)
        let control = try GCWeakTable(weakness: .keys)
        try fillEphemeronTables(cyclic: cyclic, control: control, count: 100)
        scrubStack()
        collectAndDrain(rounds: 5)
        print("ephemeron: cyclic entries left \(cyclic.count) of 100, control entries left \(control.count)")
        #expect(cyclic.count == 100)
        #expect(cyclic.statistics.entriesFoundDead == 0)
        #expect(control.count <= Self.staleAllowance)
    }
}

@inline(never)
func fillEphemeronTables(cyclic: GCWeakTable, control: GCWeakTable, count: Int) throws {
    for i in 0..<count {
        let key = try makeTagged(i)
        let value = try GCRoot(byteCount: 32)
        try value.setReference(key, at: 1)
        try cyclic.setValue(value, forKey: key)
        let otherKey = try makeTagged(i)
        let otherValue = try GCRoot(byteCount: 32)
        try control.setValue(otherValue, forKey: otherKey)
    }
}

extension WeakTableLeakTests {
    /// On a big heap the collector's pacing (a collection per heap/3
    /// allocated) lets a churning table fill with dead entries: an eager
    /// table about to grow past a sixteenth of the heap with no collection
    /// since its last resize collects and vacuums first. 256 MiB of scanned
    /// ballast with a free-space divisor of 1 (a collection per ~512 MiB
    /// allocated), 2 M fresh keys dropped at once: without the rule the
    /// table would grow to 4 M slots, every entry dead.
    @Test func churnOnABigHeapStaysWithinASixteenthOfIt() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(freeSpaceDivisor: 1))
            let ballast = try! (0..<64).map { _ in try GCRoot(byteCount: 4 << 20) }
            let table = try! GCWeakTable(weakness: .keys)
            let value = try! GCRoot(byteCount: 16)
            var maxCapacity = 0
            for round in 0..<2_000 {
                try! churnKeys(into: table, value: value, count: 1_000)
                if round % 50 == 0 { maxCapacity = max(maxCapacity, table.statistics.capacity) }
            }
            let s = table.statistics
            maxCapacity = max(maxCapacity, s.capacity)
            let heap = GC.statistics.heapSize
            // The power of two above a sixteenth of the heap, in slots.
            let bound = heap / 16 / 16 * 2
            withExtendedLifetime(ballast) {}
            report.note("2 M churn inserts on a \(heap >> 20) MiB heap, \(GC.collectionCount) collections in all")
            report.check(maxCapacity <= bound, "max capacity \(maxCapacity) slots, bound \(bound)")
            report.check(
                s.collectionsBeforeGrowing >= 1, "\(s.collectionsBeforeGrowing) collections before growing")
            report.exit()
        }
        report.show()
    }
}

/// Inserts `count` fresh keys that nothing keeps, in a frame of its own.
@inline(never)
func churnKeys(into table: GCWeakTable, value: GCRoot, count: Int) throws {
    for _ in 0..<count {
        let key = try GC.unsafeAllocate(byteCount: 16, kind: .pointerFree)
        try table.unsafeSetValue(value.unsafeAddress, forKey: key)
    }
}

extension WeakTableLeakTests {
    /// Under steady churn (2,000 kept entries, 20,000 that die between two
    /// collections, 20 rounds) a table settles at a capacity: after the
    /// first rounds it neither shrinks after a collection nor grows back
    /// before the next. The sizing before the hysteresis, beside it,
    /// resized several times a round. In a child process: collections of
    /// other tests would cut the rounds into windows of their own.
    @Test func churningTableSettlesAtACapacity() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            var resizes: [GCWeakTable.Sizing: Int] = [:]
            var capacities: [GCWeakTable.Sizing: Set<Int>] = [:]
            for sizing in [GCWeakTable.Sizing.hysteresis, .immediate] {
                let table = try! GCWeakTable(weakness: .keys, vacuum: .eager, sizing: sizing)
                let keys = try! (0..<2_000).map { try makeTagged($0) }
                for key in keys { try! table.setValue(key, forKey: key) }
                var settled = 0
                let collectionsBefore = GC.collectionCount
                for round in 0..<20 {
                    if round == 5 { settled = table.statistics.resizes }
                    try! insertDoomed(into: table, count: 20_000, firstTag: 100_000 * (round + 1))
                    capacities[sizing, default: []].insert(table.statistics.capacity)
                    scrubStack()
                    GC.collect()
                    GC.runFinalizers()
                    capacities[sizing, default: []].insert(table.statistics.capacity)
                }
                resizes[sizing] = table.statistics.resizes - settled
                report.note("\(sizing): \(GC.collectionCount - collectionsBefore) collections in 20 rounds")
                report.check(table.count >= 2_000, "\(table.count) live entries, 2,000 kept")
                withExtendedLifetime(keys) {}
            }
            report.note(
                "capacities: hysteresis \(capacities[.hysteresis]!.sorted()), before it \(capacities[.immediate]!.sorted())"
            )
            // One resize may clean tombstones (an insert whose probe passed 256 slots).
            report.check(resizes[.hysteresis]! <= 1, "\(resizes[.hysteresis]!) resizes in rounds 5-19 (hysteresis)")
            report.check(resizes[.immediate]! >= 15, "\(resizes[.immediate]!) resizes in rounds 5-19 before it")
            report.exit()
        }
        report.show()
    }
}
