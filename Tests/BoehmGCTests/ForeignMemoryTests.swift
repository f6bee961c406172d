import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The thread inside ForeignMemory.add while a test watches (0: none).
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
@Suite struct ForeignMemoryTests {
    /// Reading the counters before the first report seals nothing.
    @Test func statisticsBeforeTheFirstReportSealNothing() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let before = ForeignMemory.statistics
            report.check(before.liveBytes == 0, "\(before.liveBytes) live bytes before any report")
            report.check(before.byteBudget == 8 << 20, "budget \(before.byteBudget ?? -1) before the start")
            let configured = Result { try ForeignMemory.configure(.init(policy: .objectCount(10))) }
            report.check((try? configured.get()) != nil, "configure after reading the counters: \(configured)")
            let added = try! ForeignMemory.add(byteCount: 100)
            report.check(ForeignMemory.statistics.liveBytes == 100, "the counters after a report")
            try! ForeignMemory.remove(added)
            report.check(ForeignMemory.configuration.policy == .objectCount(10), "the configuration set is in force")
            report.exit()
        }
        report.show()
    }

    @Test func addAndRemoveBalanceAndNeverGoBelowZero() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            try! ForeignMemory.add(byteCount: 1_000, objects: 2)
            try! ForeignMemory.remove(byteCount: 400, objects: 1)
            var s = ForeignMemory.statistics
            report.check(s.liveBytes == 600 && s.liveObjects == 1, "1,000 bytes and 2 objects less 400 and 1: \(s)")
            do throws(ForeignMemory.AccountingError) {
                try ForeignMemory.remove(byteCount: 601, objects: 1)
                report.check(false, "removing 601 bytes of 600 was accepted")
            } catch {
                report.check(
                    error == .removedMoreThanAdded(byteCount: 601, objects: 1, liveBytes: 600, liveObjects: 1),
                    "removing 601 bytes of 600: \(error)")
            }
            do throws(ForeignMemory.AccountingError) {
                try ForeignMemory.remove(byteCount: 1, objects: 2)
                report.check(false, "removing 2 objects of 1 was accepted")
            } catch {
                report.note("removing 2 objects of 1: \(error)")
            }
            do throws(ForeignMemory.AccountingError) {
                try ForeignMemory.remove(byteCount: -1)
                report.check(false, "removing -1 bytes was accepted")
            } catch {
                report.check(error == .negativeCount, "removing -1 bytes: \(error)")
            }
            s = ForeignMemory.statistics
            report.check(
                s.liveBytes == 600 && s.liveObjects == 1 && s.refusedRemovals == 2,
                "after the refusals: \(s)")
            try! ForeignMemory.remove(byteCount: 600, objects: 1)
            s = ForeignMemory.statistics
            report.check(
                s.liveBytes == 0 && s.liveObjects == 0 && s.collectionsRequested == 0, "after removing the rest: \(s)")
            let late = (try? ForeignMemory.configure(.init())) != nil
            report.check(!late, "configure after the first report accepted: \(late)")
            report.exit()
        }
        report.show()
    }

    // The inline collection only marks, sweeps weak slots and reclaims:
    // finalizers and post-GC hooks never run inside the reporting call.
    @Test func inlineCollectionRunsNoFinalizerInTheCaller() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .objectCount(1)))
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
                try! ForeignMemory.add(byteCount: 1)  // collects here
                threadInAdd.store(0, ordering: .releasing)
            }
            GC.runFinalizers()
            let collections = GC.collectionCount - start
            let ran = finalizersRan.load(ordering: .relaxed)
            withExtendedLifetime((owner, hook)) {}
            report.check(collections >= 50, "\(collections) collections for 50 reports with a count of 1")
            report.check(ran >= 4_000, "\(ran) of 5,000 dropped objects finalized")
            report.check(hook.runCount >= 50, "\(hook.runCount) runs of the hook")
            let inside = ranInsideAdd.load(ordering: .relaxed)
            report.check(inside == 0, "\(inside) finalizers or hook runs inside ForeignMemory.add")
            report.exit()
        }
        report.show()
    }

    @Test func concurrentReportsBalance() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            await withTaskGroup(of: Void.self) { group in
                for t in 0..<4 {
                    group.addTask {
                        for i in 0..<20_000 {
                            let n = 1 + (i &* 7 &+ t) % 5_000
                            try! ForeignMemory.add(byteCount: n)
                            try! ForeignMemory.remove(byteCount: n)
                        }
                    }
                }
            }
            let s = ForeignMemory.statistics
            report.check(
                s.liveBytes == 0 && s.liveObjects == 0 && s.refusedRemovals == 0,
                "after 80,000 balanced reports from 4 tasks: \(s)")
            report.exit()
        }
        report.show()
    }

    // Budget = max(floor, fraction × heap): with fraction 0 the floor rules.
    @Test func bytePolicyCollectsAtTheBudgetAndResetsAtEveryCollection() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            GC.initialize()
            let start = GC.collectionCount
            for _ in 0..<160 { try! ForeignMemory.add(byteCount: 64 << 10) }  // 10 MiB
            var s = ForeignMemory.statistics
            let collections = GC.collectionCount - start
            report.check(
                s.collectionsRequested == 10 && collections >= 10 && s.byteBudget == 1 << 20,
                "10 MiB in 64 KiB reports, 1 MiB budget: \(s.collectionsRequested) requested, "
                    + "\(collections) collections, budget \(s.byteBudget.map(String.init) ?? "none")")
            // A collection run by someone else starts the window again.
            try! ForeignMemory.add(byteCount: 900 << 10)
            GC.collect()
            s = ForeignMemory.statistics
            report.check(
                s.bytesSinceCollection == 0, "\(s.bytesSinceCollection) bytes in the window after GC.collect()")
            try! ForeignMemory.add(byteCount: 900 << 10)
            s = ForeignMemory.statistics
            report.check(
                s.collectionsRequested == 10 && s.bytesSinceCollection == 900 << 10,
                "900 KiB more: \(s.collectionsRequested) requested, \(s.bytesSinceCollection) bytes in the window")
            report.exit()
        }
        report.show()
    }

    // The trigger follows the growth of the current window: handles opened
    // and closed between two collections (the soak's `closed` floor) never
    // bring one closer; memory added in an earlier window and freed in this
    // one does not put the next collection off; a removal without its
    // allocation (window unknown) only lowers the live counts.
    @Test func removalsOffsetOnlyTheirOwnWindow() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            GC.initialize()
            for _ in 0..<1_000 {
                let handle = try! ForeignMemory.add(byteCount: 64 << 10)
                try! ForeignMemory.remove(handle)
            }
            var s = ForeignMemory.statistics
            report.check(
                s.collectionsRequested == 0 && s.bytesSinceCollection == 0 && s.liveBytes == 0,
                "1,000 handles opened and closed in one window: \(s)")
            let old = try! ForeignMemory.add(byteCount: 512 << 10)
            GC.collect()
            try! ForeignMemory.add(byteCount: 100 << 10)
            try! ForeignMemory.remove(old)
            try! ForeignMemory.add(byteCount: 50 << 10)
            try! ForeignMemory.remove(byteCount: 50 << 10)
            s = ForeignMemory.statistics
            report.check(
                s.bytesSinceCollection == 150 << 10 && s.liveBytes == 100 << 10,
                "after a removal from the last window and an unknown one: \(s)")
            report.exit()
        }
        report.show()
    }

    /// The soak at a big heap, in small: each window's handles are dropped
    /// and given back by the vacuum after the next collection, while new
    /// handles keep coming (one given back per one added). Handles per
    /// collection stay at one budget's worth: the previous window's
    /// removals come off their own window's count, not the new one's (had
    /// they come off the new one's, the gap would grow by about a budget
    /// every cycle).
    @Test func removalsFromEarlierWindowsDoNotPutCollectionsOff() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            GC.initialize()
            var previous: [ForeignMemory.Allocation] = []
            var current: [ForeignMemory.Allocation] = []
            var gaps: [Int] = []
            var sinceCollection = 0
            var epoch = GC.collectionCount
            while gaps.count < 15 {
                current.append(try! ForeignMemory.add(byteCount: 64 << 10))
                sinceCollection += 1
                if let handle = previous.popLast() { try! ForeignMemory.remove(handle) }
                if GC.collectionCount != epoch {
                    epoch = GC.collectionCount
                    gaps.append(sinceCollection)
                    sinceCollection = 0
                    previous += current
                    current = []
                }
                if sinceCollection > 1_000 { break }
            }
            report.check(
                gaps.count == 15 && gaps.allSatisfy { $0 <= 17 },
                "handles of 64 KiB per collection, budget 1 MiB (16 handles): \(gaps), then \(sinceCollection)")
            report.exit()
        }
        report.show()
    }

    @Test func byteBudgetFollowsTheHeap() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0.5)))
            var ballast: [GCRoot] = []
            for _ in 0..<32 { ballast.append(try! GCRoot(byteCount: 1 << 20, kind: .pointerFree)) }
            let heap = GC.statistics.heapSize
            let budget = ForeignMemory.statistics.byteBudget ?? 0
            withExtendedLifetime(ballast) {}
            report.check(heap >= 32 << 20, "heap \(heap) bytes with 32 MiB live")
            report.check(abs(budget - heap / 2) <= 1 << 20, "budget \(budget) bytes for half the heap")
            report.exit()
        }
        report.show()
    }

    @Test func objectCountPolicy() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .objectCount(100)))
            let start = GC.collectionCount
            for _ in 0..<1_000 { try! ForeignMemory.add(byteCount: 1) }
            let s = ForeignMemory.statistics
            let collections = GC.collectionCount - start
            report.check(
                s.collectionsRequested == 10 && collections >= 10,
                "1,000 objects, count 100: \(s.collectionsRequested) requested, \(collections) collections")
            report.exit()
        }
        report.show()
    }

    /// The interval rule, checked against what it guarantees, whatever the
    /// machine's load: requests are at least one interval apart (a window
    /// starts at each request), and no window outlasts the interval by more
    /// than two gaps between reports (it ends at the first report after the
    /// interval, and starts at the first report after a collection).
    @Test func intervalPolicyCollectsAtMostOncePerInterval() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let interval = Duration.milliseconds(20)
            try! ForeignMemory.configure(.init(policy: .interval(interval)))
            let clock = ContinuousClock()
            var times: [ContinuousClock.Instant] = []
            let first = clock.now
            while clock.now - first < .milliseconds(210) {
                times.append(clock.now)
                try! ForeignMemory.add(byteCount: 10)
                if times.count % 64 == 0 { usleep(200) }
            }
            let end = clock.now
            let elapsed = end - times[0]
            let longestGap = zip(times, times.dropFirst() + [end]).map { $1 - $0 }.max()!
            let requested = ForeignMemory.statistics.collectionsRequested
            let most = Int(elapsed / interval) + 1
            let least = max(1, Int(elapsed / (interval + longestGap * 2)) - 1)
            report.check(
                (least...most).contains(requested),
                "\(times.count) reports over \(elapsed), longest gap \(longestGap): \(requested) requested, "
                    + "bounds \(least)...\(most)")
            report.exit()
        }
        report.show()
    }

    @Test func eitherPolicyFiresOnTheFirstRule() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(
                .init(policy: .either([.objectCount(1_000), .bytes(floor: 1 << 20, heapFraction: 0)])))
            for _ in 0..<100 { try! ForeignMemory.add(byteCount: 32 << 10, objects: 1) }  // bytes fire first
            let afterBytes = ForeignMemory.statistics.collectionsRequested
            for _ in 0..<2_000 { try! ForeignMemory.add(byteCount: 0, objects: 1) }  // count fires
            let byCount = ForeignMemory.statistics.collectionsRequested - afterBytes
            report.check(afterBytes == 3, "100 reports of 32 KiB, 1 MiB budget: \(afterBytes) requested")
            report.check((2...3).contains(byCount), "2,000 more objects, count 1,000: \(byCount) requested")
            report.exit()
        }
        report.show()
    }

    @Test func neverPolicyCountsButNeverCollects() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            for _ in 0..<1_000 { try! ForeignMemory.add(byteCount: 1 << 20) }
            let s = ForeignMemory.statistics
            report.check(
                s.collectionsRequested == 0 && s.liveBytes == 1_000 << 20 && s.byteBudget == nil,
                "1,000 MiB reported: \(s)")
            report.exit()
        }
        report.show()
    }

    @Test func backgroundCollectorRunsTheRequests() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .objectCount(10), collectionMode: .backgroundThread))
            GC.initialize()
            let start = GC.collectionCount
            for _ in 0..<100 {
                try! ForeignMemory.add(byteCount: 1)
                usleep(2_000)
            }
            var waited = 0
            while GC.collectionCount - start < 5 && waited < 2_000 {
                usleep(1_000)
                waited += 1
            }
            let s = ForeignMemory.statistics
            let collections = GC.collectionCount - start
            report.check(
                s.collectionsRequested >= 5 && collections >= 5,
                "100 objects, count 10: \(s.collectionsRequested) requested, \(collections) collections "
                    + "after waiting \(waited) ms")
            report.exit()
        }
        report.show()
    }
}
