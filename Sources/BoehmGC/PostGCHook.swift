import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a post-GC hook is told each time it runs.
public struct PostGCEvent: Sendable, Equatable {
    /// The collection this run follows, as a ``GC/collectionCount`` value (1
    /// for the first collection since start).
    public var collection: UInt64
    /// The newest collection completed when the run began.
    ///
    /// When it is larger than ``collection``, more runs follow at once
    /// (collections came faster than the hook ran); work that only needs the
    /// latest state can skip until `collection == latestCollection`.
    public var latestCollection: UInt64

    /// Whether this is the run for the newest collection known.
    public var isLatest: Bool { collection == latestCollection }
}

/// A callback that runs once after every collection, full or partial.
///
/// It runs outside the collector's lock, so it may allocate and take locks.
/// It stops when its owner is collected or when it is cancelled.
///
/// How it works: every collection ends with libgc's `GC_EVENT_RECLAIM_END`
/// event, where the collection-event callback counts it (the epoch,
/// ``GC/collectionCount``) and wakes the post-GC hook thread, which runs
/// every hook once for each collection it has not seen, in order of
/// collection number. That thread is not the finalizer thread: hooks never
/// wait behind finalizers. ``GC/runFinalizers()`` does the same, so after
/// `GC.collect(); GC.runFinalizers()` each live hook has run for every
/// collection so far; with ``GC/FinalizerMode/explicitOnly`` that is the
/// only place hooks run. Weak tables' vacuums run first, then
/// memory-pressure monitors, then the hooks made with this initialiser,
/// each group in the order it was made. Two runs of one hook for different
/// collections may overlap (the hook thread and a `runFinalizers()`
/// caller), so a callback that touches shared state takes its own lock. The
/// callback must not call ``GC/runFinalizers()`` (it traps there), nor
/// wait for a finalizer or another hook. See <doc:FinalizersAndPostGCHooks>
/// for what it may do.
///
/// Nothing is registered with libgc per hook: a hook is a Swift object in a
/// process-wide list, and its owner is watched through a short
/// ``GCWeakReference``. See <doc:FinalizersAndPostGCHooks>.
///
/// A hook may instead be driven the way older collectors' clients drive
/// theirs (``Driver/resurrectingFinalizer``): by the finalizer of a small
/// object that nothing refers to, which registers itself again each time it
/// runs. That way misses collections (see ``Driver``); it is offered to
/// compare with, and for code that must not depend on the collection events.
public final class PostGCHook: Sendable {
    /// What makes a hook run.
    public enum Driver: Sendable, Equatable {
        /// The collection events (the default): once after every
        /// collection, full or partial, in order of collection number.
        case collectionEvents
        /// A resurrecting finalizer: the hook's sentinel, a small GC object
        /// that nothing refers to, carries a finalizer that runs the hook
        /// and registers itself again on the sentinel, so it runs once
        /// after each collection that finds the sentinel unreachable.
        ///
        /// It runs where finalizers run (the finalizer thread, or
        /// ``GC/runFinalizers()``), and misses collections:
        /// - a partial collection (generational mode): the sentinel, old
        ///   once it survived a collection, stays marked until the next
        ///   full one;
        /// - a collection in which a stale word (on a stack, in a register,
        ///   in a scanned object) still holds the sentinel's address, which
        ///   keeps it alive.
        ///
        /// A run's ``PostGCEvent/collection`` is the newest collection when
        /// it runs; runs missed are not made up. Each run registers a libgc
        /// finalizer (one entry in libgc's finalizer table).
        case resurrectingFinalizer
    }

    private let record: HookRecord

    /// Installs a hook.
    ///
    /// - Parameters:
    ///   - owner: The object the hook watches; the hook stops after the
    ///     collection that finds it unreachable. With nil, the hook runs
    ///     until ``cancel()``. The hook itself does not keep `owner` alive.
    ///   - driver: What makes it run: ``Driver/collectionEvents`` (the
    ///     default) or ``Driver/resurrectingFinalizer``.
    ///   - body: Called once per collection that ends after the hook was
    ///     installed (with ``Driver/resurrectingFinalizer``, once per
    ///     collection that found its sentinel unreachable), with that
    ///     collection's number; on the post-GC hook thread (with
    ///     ``Driver/resurrectingFinalizer``, the finalizer thread) or in a
    ///     ``GC/runFinalizers()`` caller.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the weak reference
    ///   to the owner, or the sentinel and its finalizer, cannot be
    ///   recorded.
    ///
    /// The corresponding C function is `GC_register_finalizer_no_order`,
    /// with ``Driver/resurrectingFinalizer``.
    public init(
        owner: GCRoot? = nil, driver: Driver = .collectionEvents,
        _ body: @escaping @Sendable (PostGCEvent) -> Void
    ) throws(GCError) {
        record = try PostGCHook.install(group: .user, owner: owner, driver: driver) { event, _ in
            body(event)
            return .done
        }
    }

    /// A hook of the library's own, driven by the collection events: a weak
    /// table's vacuum, a memory-pressure monitor's sample.
    ///
    /// `body` is also told whether it may wait (for a lock): false in a
    /// pass, whose other hooks must not wait behind it; true for a run left
    /// busy by a ``GC/runFinalizers()`` pass, which must catch up. A body that
    /// returns ``RunOutcome/busy`` is run again, for the same collection,
    /// after the pass's other hooks (see ``runAll(onHookThread:)``).
    internal init(
        group: Group, owner: GCRoot? = nil,
        _ body: @escaping @Sendable (PostGCEvent, _ mayWait: Bool) -> RunOutcome
    ) throws(GCError) {
        record = try PostGCHook.install(group: group, owner: owner, driver: .collectionEvents, body)
    }

    private static func install(
        group: Group, owner: GCRoot?, driver: Driver,
        _ body: @escaping @Sendable (PostGCEvent, Bool) -> RunOutcome
    ) throws(GCError) -> HookRecord {
        enterCollector()
        let link = try owner.map { owner throws(GCError) in try GCWeakReference(owner) }
        let record = HookRecord(
            group: group, listed: driver == .collectionEvents, body: body, owner: link,
            startEpoch: shim_collectionEpoch())
        switch driver {
        case .collectionEvents:
            Runtime.shared.hooks.withLock { $0.add(record) }
        case .resurrectingFinalizer:
            try ResurrectingSentinel.install(for: record)
        }
        return record
    }

    /// Test hook: the sentinel of a hook driven by
    /// ``Driver/resurrectingFinalizer``, rooted (which keeps it alive, as a
    /// stale word would); nil for one driven by collection events, or once
    /// the hook stopped.
    package var sentinel: GCRoot? {
        record.sentinel.withLock { $0.map { GCRoot(rooting: $0) } }
    }

    /// Stops the hook: it runs no more after this returns (a run already in
    /// progress finishes).
    public func cancel() {
        record.cancel()
    }

    /// Cancels the hook and waits for a run in progress (the C API's
    /// `bgc_post_gc_hook_remove`, whose caller frees the hook's data next).
    internal func cancelWaitingForRuns() {
        record.cancelWaitingForRuns()
    }

    /// Whether the hook still runs: not cancelled, and its owner alive as of
    /// the last run.
    public var isActive: Bool { record.isActive }

    /// How many times the callback has run so far.
    public var runCount: Int { record.runs.load(ordering: .relaxed) }

    /// How many of the runs happened on the post-GC hook thread, woken by the
    /// collection itself (the rest were made up in ``GC/runFinalizers()``): a
    /// test hook, for hooks driven by collection events.
    package var threadRunCount: Int { record.threadRuns.load(ordering: .relaxed) }

    /// Runs left for the next collection because the hook was still busy
    /// after a pass's retries (a weak table whose lock was held throughout).
    internal var postponedRunCount: Int { record.postponed.load(ordering: .relaxed) }

    /// The groups a pass runs in order, each in the order its hooks were made.
    internal enum Group: Int, CaseIterable {
        /// Weak tables' vacuums (the foreign-resource registry's among
        /// them): first, so what dead entries hold goes before anything
        /// samples the heap.
        case vacuum
        /// Memory-pressure monitors' samples.
        case memoryPressure
        /// Hooks made with the public initialiser.
        case user
    }

    /// What a run of a library hook tells the pass.
    internal enum RunOutcome {
        case done
        /// The hook could not take a lock it needs without waiting: run it
        /// again later.
        case busy
    }

    /// A run a pass left busy: the hook and the collection it was for.
    internal struct BusyRun {
        fileprivate let record: HookRecord
        fileprivate let event: PostGCEvent
    }

    /// How many times a pass runs its busy hooks again, and the pause
    /// before each round: about 10 ms at most, then the hook waits for the
    /// next collection.
    static let busyRetryRounds = 10
    static let busyRetryPause: useconds_t = 1_000

    /// One pass: runs every live hook for the collections it has not seen,
    /// group by group, and lets go of hooks that were cancelled or whose
    /// owner died; then runs the busy ones again, for a few rounds.
    ///
    /// On the hook thread, a hook still busy after the last round is counted
    /// (``postponedRunCount``) and left for the next collection; a
    /// ``GC/runFinalizers()`` pass returns it to be finished (``finish(_:)``).
    internal static func runAll(onHookThread: Bool) -> [BusyRun] {
        var busy: [BusyRun] = []
        for record in Runtime.shared.hooks.withLock({ $0.inOrder() }) {
            if let event = record.catchUp(onHookThread: onHookThread) {
                busy.append(BusyRun(record: record, event: event))
            }
        }
        for _ in 0..<busyRetryRounds where !busy.isEmpty {
            usleep(busyRetryPause)
            busy.removeAll { $0.record.runAgain($0.event, mayWait: false, onHookThread: onHookThread) }
        }
        guard onHookThread else { return busy }
        for run in busy { run.record.postponed.add(1, ordering: .relaxed) }
        return []
    }

    /// Runs, waiting for their locks, the runs a ``GC/runFinalizers()``
    /// pass left busy; outside the pass, so the hook thread's next pass does
    /// not wait for them.
    internal static func finish(_ busy: [BusyRun]) {
        for run in busy { _ = run.record.runAgain(run.event, mayWait: true, onHookThread: false) }
    }
}

/// The hooks driven by the collection events, in the order a pass runs them.
///
/// A stopped hook stays in its list until half of the hooks listed are
/// stopped; then the lists are compacted (each hook is listed once and
/// compacted away once, so adding and stopping cost O(1) amortised).
internal struct LiveHooks {
    private var groups = [[HookRecord]](repeating: [], count: PostGCHook.Group.allCases.count)
    private var listed = 0
    private var stopped = 0

    mutating func add(_ record: HookRecord) {
        groups[record.group.rawValue].append(record)
        listed += 1
    }

    /// Counts a listed hook that stopped; compacts when half are stopped.
    mutating func noteStopped() {
        stopped += 1
        guard stopped * 2 > listed else { return }
        for index in groups.indices { groups[index].removeAll { !$0.isActive } }
        listed = groups.reduce(0) { $0 + $1.count }
        stopped = 0
    }

    /// The live hooks, group by group, each group in the order it was made.
    func inOrder() -> [HookRecord] {
        groups.flatMap { $0.filter(\.isActive) }
    }
}

/// A hook's state.
///
/// The process-wide list ``Runtime/hooks`` holds it until the hook is
/// cancelled or its owner dies.
internal final class HookRecord: Sendable {
    let group: PostGCHook.Group
    /// Whether the hook is in ``Runtime/hooks`` (driven by the collection events).
    private let listed: Bool
    private let body: @Sendable (PostGCEvent, Bool) -> PostGCHook.RunOutcome
    /// A short weak reference to the owner, nil for a hook without one.
    private let owner: GCWeakReference?
    /// The last collection the callback ran (or was claimed to run) for.
    private let lastEpoch: Atomic<UInt64>
    private let cancelled = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Runs of the callback in progress (counted before `cancelled` is
    /// read, so a canceller that then sees 0 knows none is left).
    private let running = Atomic<Int>(0)
    let runs = Atomic<Int>(0)
    let threadRuns = Atomic<Int>(0)
    let postponed = Atomic<Int>(0)
    /// The sentinel of a hook driven by a resurrecting finalizer (its
    /// address, not a root: nothing may keep it alive), nil otherwise.
    let sentinel = Lock<UnsafeMutableRawPointer?>(nil)

    init(
        group: PostGCHook.Group, listed: Bool, body: @escaping @Sendable (PostGCEvent, Bool) -> PostGCHook.RunOutcome,
        owner: GCWeakReference?, startEpoch: UInt64
    ) {
        self.group = group
        self.listed = listed
        self.body = body
        self.owner = owner
        self.lastEpoch = Atomic(startEpoch)
    }

    func cancel() {
        cancelled.store(true, ordering: .sequentiallyConsistent)
        stop()
    }

    /// Cancels, then waits until no run of the callback is in progress.
    ///
    /// Afterwards nothing the callback uses is touched again. Not from
    /// inside this hook's callback (it would wait for itself).
    func cancelWaitingForRuns() {
        cancel()
        while running.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
    }

    var isActive: Bool { !stopped.load(ordering: .acquiring) }

    private func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        guard listed else { return }
        Runtime.shared.hooks.withLock { $0.noteStopped() }
    }

    /// One run for a collection that found the sentinel unreachable (a
    /// resurrecting finalizer's); false, without running, once the hook was
    /// cancelled or its owner died (then the sentinel is let go).
    func runFromSentinel() -> Bool {
        if cancelled.load(ordering: .acquiring) || owner?.isCleared == true {
            stop()
            return false
        }
        let latest = shim_collectionEpoch()
        lastEpoch.store(latest, ordering: .releasing)
        _ = body(PostGCEvent(collection: latest, latestCollection: latest), true)
        runs.add(1, ordering: .relaxed)
        return true
    }

    /// Runs the callback once for each collection since the last run, in
    /// order; stops the hook instead if it was cancelled or its owner died.
    ///
    /// Returns the event of the last run if that run was busy (the callback
    /// could not take a lock without waiting), nil otherwise.
    func catchUp(onHookThread: Bool) -> PostGCEvent? {
        var busy: PostGCEvent? = nil
        while true {
            let latest = shim_collectionEpoch()
            let last = lastEpoch.load(ordering: .acquiring)
            if last >= latest { return busy }
            guard beginRun() else { return nil }
            let (claimed, _) = lastEpoch.compareExchange(
                expected: last, desired: last + 1, ordering: .acquiringAndReleasing)
            guard claimed else {
                running.subtract(1, ordering: .sequentiallyConsistent)
                continue
            }
            let event = PostGCEvent(collection: last + 1, latestCollection: latest)
            busy = finishRun(body(event, false), event: event, onHookThread: onHookThread)
        }
    }

    /// Runs the callback again for a run that was busy; true once that run
    /// is over (done, or the hook stopped), false if still busy.
    func runAgain(_ event: PostGCEvent, mayWait: Bool, onHookThread: Bool) -> Bool {
        guard beginRun() else { return true }
        return finishRun(body(event, mayWait), event: event, onHookThread: onHookThread) == nil
    }

    /// Counts a run in `running` and returns true, unless the hook was
    /// cancelled or its owner died: then stops the hook and returns false.
    private func beginRun() -> Bool {
        running.add(1, ordering: .sequentiallyConsistent)
        guard cancelled.load(ordering: .sequentiallyConsistent) || owner?.isCleared == true else { return true }
        running.subtract(1, ordering: .sequentiallyConsistent)
        stop()
        return false
    }

    /// Ends a run (counted in `running` by ``beginRun()``): counts it if done;
    /// returns its event if busy.
    private func finishRun(
        _ outcome: PostGCHook.RunOutcome, event: PostGCEvent, onHookThread: Bool
    ) -> PostGCEvent? {
        running.subtract(1, ordering: .sequentiallyConsistent)
        guard outcome == .done else { return event }
        runs.add(1, ordering: .relaxed)
        if onHookThread { threadRuns.add(1, ordering: .relaxed) }
        return nil
    }
}

/// The finalizer of a hook driven by ``PostGCHook/Driver/resurrectingFinalizer``:
/// it runs the hook, then registers itself again on the same sentinel,
/// which is unreachable once more when the finalizer returns.
internal enum ResurrectingSentinel {
    /// Allocates the hook's sentinel and arms it.
    static func install(for record: HookRecord) throws(GCError) {
        let sentinel = try GCRoot(byteCount: 8, kind: .pointerFree)
        try arm(sentinel, record: record)
        record.sentinel.withLock { $0 = sentinel.unsafeAddress }
    }

    /// Registers the finalizer on `sentinel`.
    private static func arm(_ sentinel: GCRoot, record: HookRecord) throws(GCError) {
        try sentinel.setFinalizer { sentinel in
            guard record.runFromSentinel() else {
                record.sentinel.withLock { $0 = nil }
                return
            }
            // The sentinel stays unreachable: only this root, which goes when
            // the finalizer returns, refers to it. A sentinel that cannot be
            // armed again (no memory) ends the hook's runs.
            if (try? arm(sentinel, record: record)) == nil { record.sentinel.withLock { $0 = nil } }
        }
    }
}
