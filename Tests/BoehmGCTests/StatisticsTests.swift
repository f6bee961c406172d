import BoehmGC
import TestSupport
import Testing

@Suite struct StatisticsTests {
    @Test func countersMoveWithWork() throws {
        let before = GC.statistics
        for _ in 0..<1_000 { _ = try GCRoot(byteCount: 1_024) }
        GC.collect()
        let ran = Counter()
        try finalizable(10, ran)
        collectAndDrain()
        let after = GC.statistics
        print("stats: \(after)")
        #expect(after.collections >= before.collections + 4)
        #expect(after.totalBytesAllocated >= before.totalBytesAllocated + 1_000 * 1_024)
        #expect(after.heapSize > 0 && after.freeBytes <= after.heapSize)
        #expect(after.lastPause > .zero)
        #expect(after.totalPause >= before.totalPause + after.lastPause)
        #expect(after.maxPause >= after.lastPause)
        #expect(after.finalizersRun >= before.finalizersRun + ran.count)
        #expect(GC.collectionCount >= UInt64(after.collections))
        #expect(GC.collectionCount - UInt64(after.collections) < 50)
    }

    @Test func bytesSinceCollectionResetsAtCollection() throws {
        // Other suites allocate in parallel, so only bound it loosely.
        for _ in 0..<100 { _ = try GCRoot(byteCount: 10_000, kind: .pointerFree) }
        let grown = GC.statistics.bytesSinceCollection
        GC.collect()
        let reset = GC.statistics.bytesSinceCollection
        #expect(grown >= 0)
        #expect(reset < 1_000_000 || reset < grown)
    }

    @inline(never)
    private func finalizable(_ count: Int, _ ran: Counter) throws {
        for _ in 0..<count { try GCRoot(byteCount: 16).setFinalizer { _ in ran.increment() } }
    }
}
