import BoehmGC
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct PostGCHookTests {
    // Exact counts need a process of their own: the other suites collect in
    // parallel. The child is this same debug build.
    @Test func runsOncePerForcedCollection() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let owner = try! GCRoot(byteCount: 16)
            let hook = try! PostGCHook(owner: owner) { _ in }
            let start = GC.collectionCount
            for _ in 0..<100 {
                GC.collect()
                usleep(200)  // let the hook thread take its turn
            }
            GC.runFinalizers()
            let collections = Int(GC.collectionCount - start)
            withExtendedLifetime(owner) {}
            report.check(collections == 100, "\(collections) collections counted for 100 forced")
            report.check(hook.runCount == 100, "\(hook.runCount) runs of the hook for 100 collections")
            // Most runs come from the hook thread, woken by the
            // collection itself, not from the catch-up in runFinalizers.
            report.check(hook.threadRunCount >= 50, "\(hook.threadRunCount) of them on the hook thread")
            report.exit()
        }
        report.show()
    }

    @Test(arguments: [64, 200_000])
    func runsOncePerAllocationTriggeredCollection(byteCount: Int) async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport, byteCount] in
            let owner = try! GCRoot(byteCount: 16)
            let order = Locked<[UInt64]>([])
            let hook = try! PostGCHook(owner: owner) { event in order.withLock { $0.append(event.collection) } }
            let start = GC.collectionCount
            while GC.collectionCount - start < 100 {
                _ = try! GCRoot(byteCount: byteCount, kind: .pointerFree)
            }
            let collections = GC.collectionCount - start
            GC.runFinalizers()
            let seen = order.value
            withExtendedLifetime(owner) {}
            report.note("\(byteCount)-byte allocations: \(hook.threadRunCount) runs on the hook thread")
            report.check(
                hook.runCount == Int(collections),
                "\(hook.runCount) runs of the hook for \(collections) collections")
            let expected = Array((start + 1)...(start + collections))
            report.check(
                seen == expected,
                "collections seen in order: \(seen == expected); first seen \(seen.prefix(5)), expected from \(start + 1)"
            )
            report.exit()
        }
        report.show()
    }

    // A table whose lock another thread holds across a collection (a long
    // equality closure, say) keeps no other table's vacuum and no user hook
    // from running: the pass tries each table's lock, goes on, retries the
    // busy one after the other hooks, then leaves it for the next collection.
    // In a child: another suite's GC.runFinalizers() would wait for the held
    // table, and its pass with it.
    @Test func busyTableStallsNoOtherHook() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let held = try! GCWeakTable(weakness: .keys)
            let delivered = Counter()
            let other = try! GCWeakTable(weakness: .keys) { _ in delivered.increment() }
            let seen = Locked<UInt64>(0)
            let hook = try! PostGCHook { event in seen.withLock { $0 = max($0, event.collection) } }
            var keep: [GCRoot] = []
            try! insertDoomedEntries(into: held, count: 100, firstTag: 0, keep: &keep)
            try! insertDoomedEntries(into: other, count: 100, firstTag: 1_000, keep: &keep)
            scrubStack()
            let phase = Locked<Int>(0)  // 1: the lock is held; 2: let it go
            onThreads(2) { index in
                if index == 0 {
                    held.withLockHeld {
                        phase.withLock { $0 = 1 }
                        while phase.withLock({ $0 }) == 1 { usleep(1_000) }
                    }
                    return
                }
                while phase.withLock({ $0 }) == 0 { usleep(1_000) }
                let target = GC.collectionCount + 1
                let clock = ContinuousClock()
                let start = clock.now
                GC.collect()
                while clock.now - start < .seconds(5), seen.withLock({ $0 }) < target || delivered.count == 0 {
                    usleep(1_000)
                }
                let waited = clock.now - start
                let last = seen.withLock { $0 }
                report.note("the other hooks ran \(waited) after the collection")
                report.check(last >= target, "the user hook saw collection \(last), not \(target), in \(waited)")
                report.check(delivered.count > 0, "the other table delivered \(delivered.count) dead entries")
                // Held through the pass's retries: the vacuum is postponed.
                while clock.now - start < .seconds(5), held.vacuumsPostponed == 0 { usleep(1_000) }
                report.check(held.vacuumsPostponed >= 1, "\(held.vacuumsPostponed) vacuums of the held table postponed")
                phase.withLock { $0 = 2 }
            }
            GC.collect()
            GC.runFinalizers()
            let dead = held.statistics.deadAwaitingVacuum
            report.check(dead == 0, "\(dead) dead entries of the held table await a vacuum once it was let go")
            report.check(held.statistics.vacuumsPostponed >= 1, "the statistics count the postponed vacuum")
            withExtendedLifetime((keep, hook)) {}
            report.exit()
        }
        report.show()
    }

    @Test func stopsAfterItsOwnerDies() throws {
        let hook = try hookWithDroppedOwner()
        scrubStack()
        for _ in 0..<5 where hook.isActive { collectAndDrain(rounds: 1) }
        #expect(!hook.isActive, "the hook still runs after 5 collections without its owner")
        let frozen = hook.runCount
        collectAndDrain(rounds: 5)
        #expect(hook.runCount == frozen, "the hook ran \(hook.runCount - frozen) times after it stopped")
    }

    @Test func cancelStopsAnOwnerlessHook() throws {
        let hook = try PostGCHook { _ in }
        collectAndDrain(rounds: 2)
        #expect(hook.isActive)
        #expect(hook.runCount >= 2)
        hook.cancel()
        #expect(!hook.isActive)
        GC.runFinalizers()  // waits for a run under way on the hook thread
        let frozen = hook.runCount
        collectAndDrain(rounds: 3)
        #expect(hook.runCount == frozen, "the hook ran \(hook.runCount - frozen) times after it was cancelled")
    }

    // The callback runs outside the collector's lock: it may allocate, even
    // enough to trigger collections of its own. Collections of the suites
    // running in parallel run it too: once it is cancelled and the batch
    // under way on the hook thread drained, every run has made its
    // 2,000 allocations.
    @Test func hookMayAllocate() throws {
        let owner = try GCRoot(byteCount: 16)
        let allocated = Counter()
        let hook = try PostGCHook(owner: owner) { _ in
            for _ in 0..<2_000 {
                if (try? GCRoot(byteCount: 512)) != nil { allocated.increment() }
            }
        }
        collectAndDrain(rounds: 5)
        hook.cancel()
        GC.runFinalizers()  // waits for a run under way on the hook thread
        let runs = hook.runCount
        #expect(runs >= 5, "\(runs) runs after 5 collections")
        #expect(allocated.count == runs * 2_000, "\(allocated.count) allocations in \(runs) runs of 2,000")
        withExtendedLifetime(owner) {}
    }

    @inline(never)
    private func hookWithDroppedOwner() throws -> PostGCHook {
        let owner = try GCRoot(byteCount: 16)
        return try PostGCHook(owner: owner) { _ in }
    }
}

/// The seed's way of driving a hook, a resurrecting finalizer, beside the
/// collection events: what it runs for and what it misses. Exact counts, so
/// each in a child process.
@Suite struct ResurrectingHookTests {
    /// With full collections only and nothing keeping the sentinel, it runs
    /// once per collection, as the collection events do.
    @Test func runsAfterEachFullCollection() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let events = try! PostGCHook { _ in }
            let resurrecting = try! PostGCHook(driver: .resurrectingFinalizer) { _ in }
            for _ in 0..<50 {
                GC.collect()
                GC.runFinalizers()
            }
            report.check(events.runCount == 50, "collection events: \(events.runCount) runs for 50 collections")
            // A stale word can keep the sentinel through a collection or two
            // (the sentinel's address passes through the finalizer thread).
            report.check(
                (45...50).contains(resurrecting.runCount),
                "resurrecting finalizer: \(resurrecting.runCount) runs for 50 collections")
            report.exit()
        }
        report.show()
    }

    /// In generational mode the sentinel, old once it survived a collection,
    /// stays marked through every partial collection: the resurrecting hook
    /// runs only after full ones, where the collection events run after
    /// each.
    @Test func missesPartialCollections() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(finalizerMode: .explicitOnly, collections: .generational(fullEvery: 1_000)))
            let events = try! PostGCHook { _ in }
            let resurrecting = try! PostGCHook(driver: .resurrectingFinalizer) { _ in }
            GC.collect()  // full: the sentinel is found, runs, and is old from now on
            GC.runFinalizers()
            let before = (resurrecting.runCount, events.runCount, GC.statistics)
            for _ in 0..<30 {
                GC.collectPartially()
                GC.runFinalizers()
            }
            let after = GC.statistics
            let full = after.fullCollections - before.2.fullCollections
            let ran = (resurrecting.runCount - before.0, events.runCount - before.1)
            report.check(ran.1 == 30, "collection events: \(ran.1) runs for 30 partial collections")
            report.check(
                ran.0 <= full,
                "resurrecting finalizer: \(ran.0) runs for 30 partial collections, \(full) of them full")
            GC.collect()
            GC.runFinalizers()
            report.check(
                resurrecting.runCount > before.0 + ran.0,
                "and it runs again after a full collection: \(resurrecting.runCount - before.0 - ran.0) runs")
            report.exit()
        }
        report.show()
    }

    /// A word that still holds the sentinel's address (here a root, as a
    /// stale stack slot would) keeps it alive: the resurrecting hook misses
    /// every collection until the word goes.
    @Test func aStaleWordKeepsTheSentinel() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let events = try! PostGCHook { _ in }
            let resurrecting = try! PostGCHook(driver: .resurrectingFinalizer) { _ in }
            var word = resurrecting.sentinel
            report.check(word != nil, "the hook has a sentinel")
            for _ in 0..<10 {
                GC.collect()
                GC.runFinalizers()
            }
            report.check(resurrecting.runCount == 0, "\(resurrecting.runCount) runs while a word holds the sentinel")
            report.check(events.runCount == 10, "collection events: \(events.runCount) runs for 10 collections")
            word = nil
            scrubStack()
            for _ in 0..<5 {
                GC.collect()
                GC.runFinalizers()
            }
            report.check(
                resurrecting.runCount >= 3, "\(resurrecting.runCount) runs in 5 collections once the word is gone")
            withExtendedLifetime(word) { report.exit() }
        }
        report.show()
    }

    /// Cancelled, it runs no more and lets its sentinel go.
    @Test func cancelStopsItAndLetsTheSentinelGo() throws {
        let hook = try PostGCHook(driver: .resurrectingFinalizer) { _ in }
        hook.cancel()
        collectAndDrain(rounds: 3)
        let frozen = hook.runCount
        collectAndDrain(rounds: 3)
        #expect(!hook.isActive)
        #expect(hook.runCount == frozen, "ran \(hook.runCount - frozen) times after it was cancelled")
        #expect(hook.sentinel == nil, "the sentinel is still armed after the hook was cancelled")
    }
}
