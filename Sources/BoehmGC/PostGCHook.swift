internal import CGCSupport
import Synchronization

/// What a post-GC hook is told each time it runs.
public struct PostGCEvent: Sendable, Equatable {
    /// The collection this run follows (1 for the first since start).
    public var collection: UInt64
    /// The newest collection completed when the run began. When it is larger
    /// than `collection`, more runs follow at once (collections came faster
    /// than finalizers ran); work that only needs the latest state can skip
    /// until `collection == latestCollection`.
    public var latestCollection: UInt64

    /// Whether this is the run for the newest collection known.
    public var isLatest: Bool { collection == latestCollection }
}

/// A callback that runs once after every collection, outside the collector's
/// lock, so it may allocate. It stops when its owner is collected or when it
/// is cancelled.
///
/// How it works: a one-word pointer-free sentinel with a short disappearing
/// link to the owner and a finalizer. Nothing references the sentinel, so
/// every collection finds it unreachable and queues its finalizer; the
/// finalizer registers itself again (while the owner's link is intact) and
/// runs the callback. Finalizers can merge several collections into one run,
/// and a stale copy of the sentinel's address can keep it alive through a
/// collection, so each run also catches up from the collection epoch that the
/// collection-event callback counts: the callback runs once per collection,
/// in order of collection number. ``GC/runFinalizers()`` catches every hook
/// up as well, so after `GC.collect(); GC.runFinalizers()` each live hook has
/// run for every collection so far.
///
/// Runs happen on the finalizer thread or at ``GC/runFinalizers()``; two
/// runs of one hook for different collections may overlap if both race, so
/// a callback that touches shared state takes its own lock. The callback must
/// not call ``GC/runFinalizers()``.
public final class PostGCHook: Sendable {
    private let record: HookRecord

    /// Installs a hook.
    ///
    /// - Parameters:
    ///   - owner: The object the hook watches; the hook stops after the
    ///     collection that finds it unreachable. With nil, the hook runs
    ///     until ``cancel()``.
    ///   - body: Called once per collection after the hook was installed.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the sentinel cannot be
    ///   allocated.
    public init(
        owner: GCRoot? = nil, _ body: @escaping @Sendable (PostGCEvent) -> Void
    ) throws(GCError) {
        enterCollector()
        let record = HookRecord(body: body, startEpoch: cgc_collection_epoch())
        let retained = Unmanaged<FinalizerRecord>.passRetained(record)
        let status = cgc_sentinel_create(owner?.unsafeAddress, retained.toOpaque(), record.hiddenSentinel)
        withExtendedLifetime(owner) {}
        guard status == 0 else {
            retained.release()
            throw .outOfMemory(byteCount: MemoryLayout<UInt>.size)
        }
        record.activate()
        self.record = record
    }

    /// Stops the hook: it runs no more after this returns (a run already in
    /// progress finishes).
    public func cancel() {
        record.cancel()
    }

    /// Whether the hook still runs: not cancelled and its owner alive as of
    /// the last run.
    public var isActive: Bool { record.isActive }

    /// How many times the callback has run.
    public var runCount: Int { record.runs.load(ordering: .relaxed) }

    /// How many of the runs were started by the sentinel's finalizer (the
    /// rest were catch-ups from the collection epoch).
    public var finalizerRunCount: Int { record.finalizerRuns.load(ordering: .relaxed) }

    /// Runs every live hook for the collections it has not seen.
    internal static func catchUpAll() {
        for record in HookRecord.live.withLock({ Array($0.values) }) {
            record.catchUp()
        }
    }
}

/// The hook's state, held retained by libgc as the sentinel's finalizer data
/// while the hook is active.
internal final class HookRecord: FinalizerRecord, @unchecked Sendable {
    // Every mutable field is an Atomic or inside `state`; `hiddenSentinel`
    // is written once by cgc_sentinel_create before the record is shared.
    static let live = Lock<[ObjectIdentifier: HookRecord]>([:])

    /// Makes the process-wide list with the runtime (see ``Runtime``).
    static func prepare() { live.withLock { _ in } }

    private let body: @Sendable (PostGCEvent) -> Void
    /// The last collection the callback ran (or was claimed to run) for.
    private let lastEpoch: Atomic<UInt64>
    let runs = Atomic<Int>(0)
    let finalizerRuns = Atomic<Int>(0)
    /// The sentinel's address, complemented, in malloc'd memory the collector
    /// never scans.
    let hiddenSentinel = UnsafeMutablePointer<UInt>.allocate(capacity: 1)

    private struct State {
        var active = false
        var cancelled = false
    }
    private let state = Lock(State())

    init(body: @escaping @Sendable (PostGCEvent) -> Void, startEpoch: UInt64) {
        self.body = body
        self.lastEpoch = Atomic(startEpoch)
        hiddenSentinel.initialize(to: 0)
    }

    deinit {
        hiddenSentinel.deallocate()
    }

    func activate() {
        state.withLock { $0.active = true }
        HookRecord.live.withLock { $0[ObjectIdentifier(self)] = self }
    }

    func cancel() {
        let wasActive = state.withLock { state in
            state.cancelled = true
            return state.active
        }
        // The sentinel's next finalizer run sees `cancelled` and releases
        // libgc's reference; the registry lets go now.
        if wasActive { HookRecord.live.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(self)) } }
    }

    var isActive: Bool { state.withLock { $0.active && !$0.cancelled } }

    /// Whether to keep running: not cancelled and the owner still alive.
    /// Marks the hook inactive otherwise. Held under `state` so the sentinel
    /// is read only while it is certainly not yet freed.
    private func stillWanted() -> Bool {
        state.withLock { state in
            guard state.active, !state.cancelled else {
                state.active = false
                return false
            }
            if cgc_sentinel_owner_alive(hiddenSentinel.pointee) == 0 {
                state.active = false
                return false
            }
            return true
        }
    }

    override func finalize(object: UnsafeMutableRawPointer, record: Unmanaged<FinalizerRecord>) {
        guard stillWanted() else {
            HookRecord.live.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(self)) }
            record.release()
            return
        }
        cgc_sentinel_rearm(object, record.toOpaque())
        finalizerRuns.add(1, ordering: .relaxed)
        runPending()
    }

    /// Runs the callback for collections not yet seen, from outside the
    /// sentinel's finalizer (GC.runFinalizers).
    func catchUp() {
        guard lastEpoch.load(ordering: .acquiring) < cgc_collection_epoch() else { return }
        guard stillWanted() else {
            HookRecord.live.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(self)) }
            return
        }
        runPending()
    }

    /// Claims each collection since the last run, one at a time, and runs
    /// the callback for it.
    private func runPending() {
        while true {
            let latest = cgc_collection_epoch()
            let last = lastEpoch.load(ordering: .acquiring)
            if last >= latest { return }
            let (exchanged, _) = lastEpoch.compareExchange(
                expected: last, desired: last + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                body(PostGCEvent(collection: last + 1, latestCollection: latest))
                runs.add(1, ordering: .relaxed)
            }
        }
    }
}
