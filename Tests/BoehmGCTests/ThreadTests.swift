import BoehmGC
import Dispatch
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs while the rest of the suite runs in parallel (Swift Testing's
/// default): allocation and collection from many tasks and threads at once.
@Suite struct ThreadTests {
    @Test func allocateAndCollectFromSixteenTasks() async throws {
        let corrupted = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<16 {
                group.addTask {
                    var kept: [GCRoot] = []
                    for i in 0..<10_000 {
                        let root = try GCRoot(byteCount: 48)
                        root.withUnsafeMutableBytes { $0.storeBytes(of: task &* 1_000_000 &+ i, as: Int.self) }
                        if i % 50 == 0 { kept.append(root) }
                        if i % 2_500 == 0 { GC.collect() }
                        if i % 1_000 == 0 { await Task.yield() }
                    }
                    return kept.enumerated().count { n, root in
                        root.withUnsafeMutableBytes { $0.load(as: Int.self) } != task &* 1_000_000 &+ n &* 50
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(corrupted == 0)
    }

    @Test func dispatchWorkersAllocateAndCollect() {
        let corrupted = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var kept: [GCRoot] = []
            for i in 0..<5_000 {
                let root = try! GCRoot(byteCount: 32)
                root.withUnsafeMutableBytes { $0.storeBytes(of: worker &* 100_000 &+ i, as: Int.self) }
                kept.append(root)
                if i % 1_000 == 0 { GC.collect() }
            }
            for (i, root) in kept.enumerated()
            where root.withUnsafeMutableBytes({ $0.load(as: Int.self) }) != worker &* 100_000 &+ i {
                corrupted.add(1, ordering: .relaxed)
            }
        }
        #expect(corrupted.load(ordering: .relaxed) == 0)
    }

    // Dispatch blocks the signals libgc stops the world with; a registered
    // thread must have them unblocked or collections abort.
    @Test func registeredDispatchThreadReceivesWorldStopSignals() async {
        let blocked = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                GC.registerCurrentThread()
                var mask = sigset_t()
                pthread_sigmask(SIG_BLOCK, nil, &mask)
                // libgc's defaults on Linux: SIGPWR suspends, SIGXCPU restarts.
                continuation.resume(returning: [sigismember(&mask, SIGPWR), sigismember(&mask, SIGXCPU)])
            }
        }
        #expect(blocked == [0, 0])
    }

    // Threads that exit are unregistered, so the collector stops signalling
    // them; collections after they are gone still work.
    @Test func exitingThreadsAreUnregistered() throws {
        GC.initialize()
        let before = GC.registeredThreadCount
        var threads: [pthread_t] = []
        for _ in 0..<12 {
            var thread = pthread_t()
            let status = pthread_create(
                &thread, nil,
                { _ in
                    for _ in 0..<1_000 { _ = try? GCRoot(byteCount: 64) }
                    GC.collect()
                    return nil
                }, nil)
            try #require(status == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        GC.collect()
        // Other suites running in parallel may register pool threads of
        // their own meanwhile, never more than a few; a leak would add 12.
        let after = GC.registeredThreadCount
        print("registered threads before \(before), after 12 exited threads \(after)")
        #expect(after - before < 6)
    }
}
