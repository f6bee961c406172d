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

    // In a child of its own: other suites allocate and collect in
    // parallel. Its initial heap is large enough that 1 MB of allocation
    // starts no collection.
    @Test func bytesSinceCollectionGrowsAndResetsAtCollection() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(initialHeapSize: 64 << 20))
            GC.collect()
            let start = GC.collectionCount
            for _ in 0..<100 { _ = try! GCRoot(byteCount: 10_000, kind: .pointerFree) }
            let grown = GC.statistics.bytesSinceCollection
            let collections = GC.collectionCount - start
            GC.collect()
            let reset = GC.statistics.bytesSinceCollection
            report.check(collections == 0, "\(collections) collections while 1,000,000 bytes were allocated")
            report.check(grown >= 1_000_000, "\(grown) bytes since the collection before them")
            report.check(reset < 64 << 10, "\(reset) bytes since the collection after them")
            report.exit()
        }
        report.show()
    }

    @inline(never)
    private func finalizable(_ count: Int, _ ran: Counter) throws {
        for _ in 0..<count { try GCRoot(byteCount: 16).setFinalizer { _ in ran.increment() } }
    }
}
