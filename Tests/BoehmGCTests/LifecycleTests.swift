import BoehmGC
import TestSupport
import Testing

@Suite struct LifecycleTests {
    @Test func configureAfterInitialisationThrows() throws {
        GC.initialize()
        #expect(GC.isInitialized)
        #expect(throws: GCError.alreadyInitialized) {
            try GC.configure(.init(maximumHeapSize: 1 << 30))
        }
    }

    @Test func configureRejectsNonPositiveSizes() {
        #expect(throws: GCError.invalidArgument("maximumHeapSize must be positive, got 0")) {
            try GC.configure(.init(maximumHeapSize: 0))
        }
    }

    // A fresh process: settings given before first use take effect.
    @Test func settingsBeforeInitialisationApply() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(initialHeapSize: 4 << 20, maximumHeapSize: 16 << 20))
            let heap = GC.statistics.heapSize
            report.check(heap >= 4 << 20, "heap of \(heap) bytes at start, 4 MiB asked")
            var kept: [GCRoot] = []
            var refusal: (any Error)?
            for _ in 0..<64 {
                do { kept.append(try GCRoot(byteCount: 1 << 20, kind: .pointerFree)) } catch {
                    refusal = error
                    break
                }
            }
            report.check(
                refusal != nil && kept.count < 17,
                "under a 16 MiB limit, \(kept.count) objects of 1 MiB, then \(refusal.map { "\($0)" } ?? "no error")")
            report.exit()
        }
        report.show()
    }

    // A fresh process where eight threads race to be first: initialisation
    // happens once, on a thread that is not the process's main thread, and
    // collections afterwards scan every thread's stack correctly.
    @Test func concurrentFirstUseFromWorkerThreads() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let intact = await withTaskGroup(of: Int.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        var roots: [GCRoot] = []
                        for i in 0..<2_000 {
                            let root = try! GCRoot(byteCount: 24)
                            root.withUnsafeMutableBytes { $0.storeBytes(of: t &* 10_000 &+ i, as: Int.self) }
                            roots.append(root)
                            if i % 500 == 0 { GC.collect() }
                        }
                        return roots.enumerated().count { i, root in
                            root.withUnsafeMutableBytes { $0.load(as: Int.self) } == t &* 10_000 &+ i
                        }
                    }
                }
                return await group.reduce(0, +)
            }
            report.check(GC.isInitialized, "initialised: \(GC.isInitialized)")
            report.check(intact == 16_000, "\(intact) of 16,000 objects from 8 threads intact")
            report.exit()
        }
        report.show()
    }
}
