import BoehmGC
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct PostGCHookTests {
    // Exact counts need a process of their own: the other suites collect in
    // parallel. The child is this same debug build.
    @Test func runsOncePerForcedCollection() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let owner = try! GCRoot(byteCount: 16)
            let hook = try! PostGCHook(owner: owner) { _ in }
            let start = GC.collectionCount
            for _ in 0..<100 {
                GC.collect()
                usleep(200)  // let the finalizer thread take its turn
            }
            GC.runFinalizers()
            let collections = Int(GC.collectionCount - start)
            print(
                "forced: \(collections) collections, \(hook.runCount) runs, \(hook.threadRunCount) on the finalizer thread"
            )
            withExtendedLifetime(owner) {}
            // Most runs must come from the finalizer thread, woken by the
            // collection itself, not from the catch-up in runFinalizers.
            exit(collections == 100 && hook.runCount == 100 && hook.threadRunCount >= 50 ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
    }

    @Test(arguments: [64, 200_000])
    func runsOncePerAllocationTriggeredCollection(byteCount: Int) async {
        let result = await #expect(
            processExitsWith: .success, observing: [\.standardOutputContent], "allocations of \(byteCount) bytes"
        ) { [byteCount] in
            let size = byteCount
            let owner = try! GCRoot(byteCount: 16)
            let order = Locked<[UInt64]>([])
            let hook = try! PostGCHook(owner: owner) { event in order.withLock { $0.append(event.collection) } }
            let start = GC.collectionCount
            while GC.collectionCount - start < 100 {
                _ = try! GCRoot(byteCount: size, kind: .pointerFree)
            }
            let collections = GC.collectionCount - start
            GC.runFinalizers()
            let seen = order.value
            print(
                "\(size)-byte allocations: \(collections) collections, \(hook.runCount) runs, \(hook.threadRunCount) on the finalizer thread"
            )
            withExtendedLifetime(owner) {}
            let inOrder = seen == Array((start + 1)...(start + collections))
            exit(hook.runCount == Int(collections) && inOrder ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
    }

    @Test func stopsAfterItsOwnerDies() throws {
        let hook = try hookWithDroppedOwner()
        scrubStack()
        for _ in 0..<5 where hook.isActive { collectAndDrain(rounds: 1) }
        #expect(!hook.isActive)
        let frozen = hook.runCount
        collectAndDrain(rounds: 5)
        #expect(hook.runCount == frozen)
    }

    @Test func cancelStopsAnOwnerlessHook() throws {
        let hook = try PostGCHook { _ in }
        collectAndDrain(rounds: 2)
        #expect(hook.isActive)
        #expect(hook.runCount >= 2)
        hook.cancel()
        #expect(!hook.isActive)
        let frozen = hook.runCount
        collectAndDrain(rounds: 3)
        #expect(hook.runCount == frozen)
    }

    // The callback runs outside the collector's lock: it may allocate, even
    // enough to trigger collections of its own.
    @Test func hookMayAllocate() throws {
        let owner = try GCRoot(byteCount: 16)
        let allocated = Counter()
        let hook = try PostGCHook(owner: owner) { _ in
            for _ in 0..<2_000 {
                if (try? GCRoot(byteCount: 512)) != nil { allocated.increment() }
            }
        }
        collectAndDrain(rounds: 5)
        #expect(hook.runCount >= 5)
        #expect(allocated.count == hook.runCount * 2_000)
        withExtendedLifetime(owner) {}
        hook.cancel()
    }

    @inline(never)
    private func hookWithDroppedOwner() throws -> PostGCHook {
        let owner = try GCRoot(byteCount: 16)
        return try PostGCHook(owner: owner) { _ in }
    }
}
