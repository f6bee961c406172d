import BoehmGC
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The thread inside ExternalMemory.add while a test watches (0: none).
private let threadInAdd = Atomic<UInt>(0)
/// Finalizers or hooks that ran on that thread during the call.
private let ranInsideAdd = Atomic<Int>(0)
private let finalizersRan = Atomic<Int>(0)

@inline(never)
private func dropFinalizableObjects(_ count: Int) {
    for _ in 0..<count {
        let root = try! GCRoot(byteCount: 32)
        try! root.setFinalizer { _ in
            finalizersRan.add(1, ordering: .relaxed)
            if threadInAdd.load(ordering: .acquiring) == UInt(pthread_self()) {
                ranInsideAdd.add(1, ordering: .relaxed)
            }
        }
    }
    scrubStack()
}

// Exact counts are checked in child processes (exit tests): the accounting
// is process-wide and other suites use it in parallel.
@Suite struct ExternalMemoryTests {
    @Test func addAndRemoveBalanceAndNeverGoBelowZero() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .never))
            ExternalMemory.add(byteCount: 1_000, objects: 2)
            try! ExternalMemory.remove(byteCount: 400, objects: 1)
            var s = ExternalMemory.statistics
            guard s.liveBytes == 600, s.liveObjects == 1 else { exit(1) }
            do {
                try ExternalMemory.remove(byteCount: 601, objects: 1)
                exit(2)
            } catch {
                guard
                    error as? ExternalMemory.AccountingError
                        == .removedMoreThanAdded(byteCount: 601, objects: 1, liveBytes: 600, liveObjects: 1)
                else { exit(3) }
            }
            do {
                try ExternalMemory.remove(byteCount: 1, objects: 2)
                exit(4)
            } catch {}
            #expect(throws: ExternalMemory.AccountingError.negativeCount) {
                try ExternalMemory.remove(byteCount: -1)
            }
            s = ExternalMemory.statistics
            guard s.liveBytes == 600, s.liveObjects == 1, s.refusedRemovals == 2 else { exit(5) }
            try! ExternalMemory.remove(byteCount: 600, objects: 1)
            s = ExternalMemory.statistics
            guard s.liveBytes == 0, s.liveObjects == 0, s.collectionsRequested == 0 else { exit(6) }
            // configure after the first report is refused
            guard (try? ExternalMemory.configure(.init())) == nil else { exit(7) }
            exit(0)
        }
    }

    // The inline collection only marks, sweeps weak slots and reclaims:
    // finalizers and post-GC hooks never run inside the reporting call.
    @Test func inlineCollectionRunsNoFinalizerInTheCaller() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .objectCount(1)))
            let owner = try! GCRoot(byteCount: 16)
            let hook = try! PostGCHook(owner: owner) { _ in
                if threadInAdd.load(ordering: .acquiring) == UInt(pthread_self()) {
                    ranInsideAdd.add(1, ordering: .relaxed)
                }
            }
            let start = GC.collectionCount
            for _ in 0..<50 {
                dropFinalizableObjects(100)
                threadInAdd.store(UInt(pthread_self()), ordering: .releasing)
                ExternalMemory.add(byteCount: 1)  // collects here
                threadInAdd.store(0, ordering: .releasing)
            }
            GC.runFinalizers()
            let collections = GC.collectionCount - start
            let ran = finalizersRan.load(ordering: .relaxed)
            withExtendedLifetime((owner, hook)) {}
            guard collections >= 50, ran >= 4_000, hook.runCount >= 50 else { exit(1) }
            exit(ranInsideAdd.load(ordering: .relaxed) == 0 ? 0 : 2)
        }
    }

    @Test func concurrentReportsBalance() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .never))
            await withTaskGroup(of: Void.self) { group in
                for t in 0..<4 {
                    group.addTask {
                        for i in 0..<20_000 {
                            let n = 1 + (i &* 7 &+ t) % 5_000
                            ExternalMemory.add(byteCount: n)
                            try! ExternalMemory.remove(byteCount: n)
                        }
                    }
                }
            }
            let s = ExternalMemory.statistics
            print("after 80,000 balanced reports: live \(s.liveBytes) bytes, \(s.liveObjects) objects")
            exit(s.liveBytes == 0 && s.liveObjects == 0 && s.refusedRemovals == 0 ? 0 : 1)
        }
    }

    // Budget = max(floor, fraction × heap): with fraction 0 the floor rules.
    @Test func bytePolicyCollectsAtTheBudgetAndResetsAtEveryCollection() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            GC.initialize()
            let start = GC.collectionCount
            for _ in 0..<160 { ExternalMemory.add(byteCount: 64 << 10) }  // 10 MiB
            var s = ExternalMemory.statistics
            let collections = GC.collectionCount - start
            print(
                "10 MiB in 64 KiB reports, 1 MiB budget: \(s.collectionsRequested) requested, \(collections) collections"
            )
            guard s.collectionsRequested == 10, collections >= 10, s.byteBudget == 1 << 20 else { exit(1) }
            // A collection run by someone else starts the window again.
            ExternalMemory.add(byteCount: 900 << 10)
            GC.collect()
            s = ExternalMemory.statistics
            guard s.bytesSinceCollection == 0 else { exit(2) }
            ExternalMemory.add(byteCount: 900 << 10)
            s = ExternalMemory.statistics
            guard s.collectionsRequested == 10, s.bytesSinceCollection == 900 << 10 else { exit(3) }
            exit(0)
        }
    }

    // The trigger follows net growth: handles opened and closed between two
    // collections (the soak's `closed` floor) never bring one closer; the
    // same bytes added and dropped do.
    @Test func removalsOffsetAdditionsInTheTrigger() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            GC.initialize()
            for _ in 0..<1_000 {
                ExternalMemory.add(byteCount: 64 << 10)
                try! ExternalMemory.remove(byteCount: 64 << 10)
            }
            var s = ExternalMemory.statistics
            guard s.collectionsRequested == 0, s.bytesSinceCollection == 0, s.liveBytes == 0 else { exit(1) }
            // Removing more than was added since the collection floors at 0.
            ExternalMemory.add(byteCount: 512 << 10)
            GC.collect()
            ExternalMemory.add(byteCount: 100 << 10)
            try! ExternalMemory.remove(byteCount: 512 << 10)
            s = ExternalMemory.statistics
            guard s.bytesSinceCollection == 0, s.liveBytes == 100 << 10 else { exit(2) }
            for _ in 0..<32 { ExternalMemory.add(byteCount: 64 << 10) }  // 2 MiB, not removed
            s = ExternalMemory.statistics
            exit(s.collectionsRequested == 2 ? 0 : 3)
        }
    }

    @Test func byteBudgetFollowsTheHeap() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0.5)))
            var ballast: [GCRoot] = []
            for _ in 0..<32 { ballast.append(try! GCRoot(byteCount: 1 << 20, kind: .pointerFree)) }
            let heap = GC.statistics.heapSize
            let budget = ExternalMemory.statistics.byteBudget ?? 0
            print("heap \(heap) bytes, budget \(budget) bytes")
            withExtendedLifetime(ballast) {}
            exit(heap >= 32 << 20 && abs(budget - heap / 2) <= 1 << 20 ? 0 : 1)
        }
    }

    @Test func objectCountPolicy() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .objectCount(100)))
            let start = GC.collectionCount
            for _ in 0..<1_000 { ExternalMemory.add(byteCount: 1) }
            let s = ExternalMemory.statistics
            print("1,000 objects, count 100: \(s.collectionsRequested) requested")
            exit(s.collectionsRequested == 10 && GC.collectionCount - start >= 10 ? 0 : 1)
        }
    }

    @Test func intervalPolicyCollectsAtMostOncePerInterval() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .interval(.milliseconds(20))))
            let clock = ContinuousClock()
            let start = clock.now
            var reports = 0
            while clock.now - start < .milliseconds(210) {
                ExternalMemory.add(byteCount: 10)
                reports += 1
                if reports % 64 == 0 { usleep(200) }
            }
            let s = ExternalMemory.statistics
            print("210 ms of reports, interval 20 ms: \(s.collectionsRequested) requested")
            exit((5...11).contains(s.collectionsRequested) ? 0 : 1)
        }
    }

    @Test func eitherPolicyFiresOnTheFirstRule() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(
                .init(policy: .either([.objectCount(1_000), .bytes(floor: 1 << 20, heapFraction: 0)])))
            for _ in 0..<100 { ExternalMemory.add(byteCount: 32 << 10, objects: 1) }  // bytes fire first
            let afterBytes = ExternalMemory.statistics.collectionsRequested
            for _ in 0..<2_000 { ExternalMemory.add(byteCount: 0, objects: 1) }  // count fires
            let s = ExternalMemory.statistics
            print("either(count 1000, 1 MiB): \(afterBytes) by bytes, \(s.collectionsRequested - afterBytes) by count")
            exit(afterBytes == 3 && (2...3).contains(s.collectionsRequested - afterBytes) ? 0 : 1)
        }
    }

    @Test func neverPolicyCountsButNeverCollects() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .never))
            for _ in 0..<1_000 { ExternalMemory.add(byteCount: 1 << 20) }
            let s = ExternalMemory.statistics
            exit(s.collectionsRequested == 0 && s.liveBytes == 1_000 << 20 && s.byteBudget == nil ? 0 : 1)
        }
    }

    @Test func backgroundCollectorRunsTheRequests() async {
        await #expect(processExitsWith: .success) {
            try! ExternalMemory.configure(.init(policy: .objectCount(10), collectionMode: .backgroundThread))
            GC.initialize()
            let start = GC.collectionCount
            for _ in 0..<100 {
                ExternalMemory.add(byteCount: 1)
                usleep(2_000)
            }
            var waited = 0
            while GC.collectionCount - start < 5 && waited < 2_000 {
                usleep(1_000)
                waited += 1
            }
            let s = ExternalMemory.statistics
            print("background: \(s.collectionsRequested) requested, \(GC.collectionCount - start) collections")
            exit(s.collectionsRequested >= 5 && GC.collectionCount - start >= 5 ? 0 : 1)
        }
    }
}
