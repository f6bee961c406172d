import BoehmGC
import Synchronization
import Testing

@Suite struct SmokeTests {
    @Test func hookRunsOncePerCollection() throws {
        let owner = try GCRoot(byteCount: 16)
        let runs = Atomic<Int>(0)
        let hook = try PostGCHook(owner: owner) { _ in runs.add(1, ordering: .relaxed) }
        let start = GC.collectionCount
        for _ in 0..<100 { GC.collect(); GC.runFinalizers() }
        GC.runFinalizers()
        let collections = Int(GC.collectionCount - start)
        print("hook runs \(hook.runCount) finalizer-driven \(hook.finalizerRunCount) collections \(collections)")
        #expect(hook.runCount == collections)
        withExtendedLifetime(owner) {}
    }

    @Test func finalizerRuns() throws {
        let ran = Atomic<Int>(0)
        do {
            for _ in 0..<100 {
                let r = try GCRoot(byteCount: 32)
                try r.setFinalizer { _ in ran.add(1, ordering: .relaxed) }
            }
        }
        for _ in 0..<3 { GC.collect(); GC.runFinalizers() }
        print("finalizers ran \(ran.load(ordering: .relaxed))")
        #expect(ran.load(ordering: .relaxed) >= 90)
    }

    @Test func parallelAllocation() async throws {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var kept: [GCRoot] = []
                    for i in 0..<20_000 {
                        let r = try GCRoot(byteCount: 48)
                        r.withUnsafeMutableBytes { $0.storeBytes(of: t * 1_000_000 + i, as: Int.self) }
                        if i % 100 == 0 { kept.append(r) }
                        if i % 5000 == 0 { GC.collect() }
                    }
                    var bad = 0
                    for (n, r) in kept.enumerated() where r.withUnsafeMutableBytes({ $0.load(as: Int.self) }) != t * 1_000_000 + n * 100 { bad += 1 }
                    return bad
                }
            }
            var bad = 0
            for try await b in group { bad += b }
            #expect(bad == 0)
        }
    }
}
