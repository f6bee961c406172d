import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct FinalizerTests {
    @Test func eachFinalizerRunsExactlyOnce() throws {
        let counts = Locked([Int: Int]())
        try makeFinalizable(500) { id in counts.withLock { $0[id, default: 0] += 1 } }
        scrubStack()
        for _ in 0..<10 { collectAndDrain(rounds: 1) }
        let snapshot = counts.value
        print("finalized \(snapshot.count) of 500, max runs per object \(snapshot.values.max() ?? 0)")
        #expect(snapshot.count >= 480)
        #expect(snapshot.values.allSatisfy { $0 == 1 })
    }

    @Test func finalizerSeesIntactObjectAndMayResurrectIt() throws {
        let resurrected = Locked<GCRoot?>(nil)
        try makeFinalizable(1) { _ in }  // warm path
        try makeResurrecting(into: resurrected)
        scrubStack()
        for _ in 0..<5 where resurrected.value == nil { collectAndDrain(rounds: 1) }
        let object = try #require(resurrected.value)
        collectAndDrain()
        #expect(object.withUnsafeMutableBytes { $0.load(as: Int.self) } == 0xF1A1)
    }

    @Test func oneFinalizerPerObject() throws {
        let object = try GCRoot(byteCount: 16)
        try object.setFinalizer { _ in }
        #expect(throws: GCError.finalizerAlreadySet) { try object.setFinalizer { _ in } }
        #expect(object.removeFinalizer())
        #expect(!object.removeFinalizer())
        try object.setFinalizer { _ in }
        #expect(object.removeFinalizer())
    }

    @Test func removedFinalizerNeverRuns() throws {
        let ran = Counter()
        try makeFinalizable(100, remove: true) { _ in ran.increment() }
        collectAndDrain()
        #expect(ran.count == 0)
    }

    // Finalizers never run inside an unrelated call: not in allocation, not
    // in GC.collect(); only on the finalizer thread or in runFinalizers().
    @Test func finalizersRunOnlyOnTheFinalizerThreadOrAtSafePoints() throws {
        let me = pthread_self()
        let onCaller = Counter()
        let total = Counter()
        try makeFinalizable(300) { _ in
            total.increment()
            if pthread_equal(pthread_self(), me) != 0 { onCaller.increment() }
        }
        scrubStack()
        for _ in 0..<20 {
            GC.collect()
            for _ in 0..<2_000 { _ = try GCRoot(byteCount: 256) }
        }
        let beforeDrain = onCaller.count
        // Give the finalizer thread a moment, then drain what is left here.
        usleep(50_000)
        GC.runFinalizers()
        print("finalizers run: \(total.count), on the allocating thread before runFinalizers: \(beforeDrain)")
        #expect(beforeDrain == 0)
        #expect(total.count >= 280)
    }

    @inline(never)
    private func makeFinalizable(_ count: Int, remove: Bool = false, _ body: @escaping @Sendable (Int) -> Void) throws {
        for id in 0..<count {
            let object = try GCRoot(byteCount: 24)
            try object.setFinalizer { _ in body(id) }
            if remove { object.removeFinalizer() }
        }
    }

    @inline(never)
    private func makeResurrecting(into slot: Locked<GCRoot?>) throws {
        let object = try GCRoot(byteCount: 16)
        object.withUnsafeMutableBytes { $0.storeBytes(of: 0xF1A1, as: Int.self) }
        try object.setFinalizer { root in slot.withLock { $0 = root } }
    }
}
