import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Accounting of memory that C code allocated behind GC objects.
///
/// The collector decides when to run from the bytes it allocated itself; a
/// GC object of a few dozen bytes that owns an `iconv_t` (~33 kB of malloc)
/// looks cheap to it, so dropped handles pile up between collections. Report
/// such memory with ``add(byteCount:objects:)`` when it is allocated and
/// ``remove(byteCount:objects:)`` when it is freed; when the net foreign
/// growth since the last collection passes the ``TriggerPolicy``, the
/// accounting runs a collection.
///
/// ## The rule
/// The default policy, ``TriggerPolicy/bytes(floor:heapFraction:)``, collects
/// when the net foreign bytes added since the last collection (additions
/// minus removals, floored at zero) pass `max(8 MiB, heap size / 3)`. Unlike
/// Guile's rule (budget = heap size, counter never reset by ordinary
/// collections), the counter starts again at every collection, whoever ran
/// it: each report compares the collection epoch (``GC/collectionCount``)
/// with the one it last saw, so the callback that counts collections does no
/// work for the accounting. Removals count too: a handle opened and closed
/// between two collections leaves nothing for a collection to find, so it
/// must not bring one closer (with additions alone, a program that closes
/// every port collected as often as one that drops them).
///
/// ## Where the collection runs
/// By default (``CollectionMode/inline``) the collection runs inside the
/// ``add(byteCount:objects:)`` call that passed the budget, on the caller's
/// thread. That is safe here: libgc runs in finalize-on-demand mode, so a
/// collection only marks, runs the C weak-slot sweep and reclaims; no
/// finalizer, post-GC hook or other Swift code runs inside it, so it cannot
/// re-enter the caller or take the caller's locks. The caller must not hold
/// the collector's own lock (no report from inside `GC_call_with_alloc_lock`).
/// ``CollectionMode/backgroundThread`` posts the request to a collector
/// thread instead, so the report returns at once.
///
/// Counters are atomics; reports from many threads need no lock. A report
/// that races with the first report after a collection may be left out of
/// the since-last-collection count (never out of the live count).
///
/// See <doc:ForeignMemoryAndResources>; ``ForeignResource`` reports its
/// handle's bytes here on its own.
public enum ForeignMemory {
    /// Records `byteCount` foreign bytes (and `objects` foreign objects)
    /// allocated, and runs or requests a collection if the trigger policy
    /// says so.
    ///
    /// With ``CollectionMode/inline`` (the default) a collection the policy
    /// asks for runs inside this call, on the caller's thread; no finalizer,
    /// hook or vacuum runs inside it, so the caller may hold its own locks.
    /// The caller must not hold the collector's lock.
    ///
    /// - Parameters:
    ///   - byteCount: Bytes allocated outside the GC heap, 0 or more.
    ///   - objects: Foreign objects they belong to, 0 or more (for
    ///     ``TriggerPolicy/objectCount(_:)``); 1 by default.
    /// - Returns: What was recorded, with the collection window it was
    ///   recorded in; give it back to ``remove(_:)`` when the memory is freed.
    /// - Throws: ``AccountingError/negativeCount`` for a negative count;
    ///   ``AccountingError/overflow(byteCount:objects:liveBytes:liveObjects:)``
    ///   when the live counts would pass `Int.max`. Either way nothing is
    ///   recorded.
    @discardableResult
    public static func add(byteCount: Int, objects: Int = 1) throws(AccountingError) -> Allocation {
        guard byteCount >= 0, objects >= 0 else { throw .negativeCount }
        return try Accountant.shared.add(byteCount: byteCount, objects: objects)
    }

    /// Records the memory of `allocation` freed.
    ///
    /// Never collects. Memory freed in the collection window it was added in (no collection
    /// ran in between) also comes off the bytes counted towards the next
    /// collection: a handle opened and closed between two collections leaves
    /// nothing for a collection to find. Memory added in an earlier window
    /// does not: the collection that window led to has run, and taking it off
    /// the new window's count would put the next collection off by as much.
    ///
    /// - Parameter allocation: What ``add(byteCount:objects:)`` returned, or
    ///   a part of it (``Allocation/part(byteCount:objects:)``).
    /// - Throws: ``AccountingError/removedMoreThanAdded(byteCount:objects:liveBytes:liveObjects:)``
    ///   when more bytes or objects would be removed than are live; the
    ///   counters are then left unchanged (never below zero).
    public static func remove(_ allocation: Allocation) throws(AccountingError) {
        try Accountant.shared.remove(
            byteCount: allocation.byteCount, objects: allocation.objects, window: allocation.window)
    }

    /// Records foreign bytes (and foreign objects) freed that were added in an unknown window.
    ///
    /// They come off the live counts only, never off the bytes counted
    /// towards the next collection (see ``remove(_:)``). Never collects.
    ///
    /// - Parameters:
    ///   - byteCount: Bytes freed, 0 or more.
    ///   - objects: Foreign objects freed, 0 or more; 1 by default.
    /// - Throws: ``AccountingError/removedMoreThanAdded(byteCount:objects:liveBytes:liveObjects:)``
    ///   when more bytes or objects would be removed than are live;
    ///   ``AccountingError/negativeCount`` for a negative count. Either way
    ///   the counters are left unchanged (never below zero).
    public static func remove(byteCount: Int, objects: Int = 1) throws(AccountingError) {
        guard byteCount >= 0, objects >= 0 else { throw .negativeCount }
        try Accountant.shared.remove(byteCount: byteCount, objects: objects, window: nil)
    }

    /// Foreign memory recorded by ``add(byteCount:objects:)``, and the
    /// collection window it was recorded in.
    ///
    /// A window is the time between two collections, named by the
    /// ``GC/collectionCount`` at its start. Giving an allocation back in its
    /// own window takes it off the count towards the next collection too.
    public struct Allocation: Sendable, Equatable {
        /// Bytes recorded.
        public let byteCount: Int
        /// Foreign objects recorded.
        public let objects: Int
        /// The collection count when it was recorded (`UInt64.max` for
        /// memory recorded over several windows, which offsets no window).
        public let window: UInt64

        /// Nothing recorded.
        public static var none: Allocation { Allocation(byteCount: 0, objects: 0, window: 0) }

        /// A part of this allocation, in its window.
        ///
        /// Use it for what to give back when part of the memory is freed,
        /// or for what is left afterwards.
        ///
        /// - Parameters:
        ///   - byteCount: Bytes of the part; clamped to `0...self.byteCount`.
        ///   - objects: Objects of the part; clamped to `0...self.objects`
        ///     (0 by default).
        /// - Returns: The part, in this allocation's window.
        public func part(byteCount: Int, objects: Int = 0) -> Allocation {
            Allocation(
                byteCount: min(max(0, byteCount), self.byteCount), objects: min(max(0, objects), self.objects),
                window: window)
        }

        /// This allocation and `other` together, for memory that grows by steps.
        ///
        /// - Parameter other: Memory recorded later for the same owner.
        /// - Returns: The sum, in the two allocations' window if both were
        ///   recorded in the same one (or this one is empty), else in none
        ///   (`UInt64.max`), so that freeing it offsets no window.
        public func adding(_ other: Allocation) -> Allocation {
            let empty = byteCount == 0 && objects == 0
            return Allocation(
                byteCount: byteCount + other.byteCount, objects: objects + other.objects,
                window: empty || window == other.window ? other.window : UInt64.max)
        }
    }

    /// The accounting's counters now.
    ///
    /// Before the first report, zeros and the budget of the configuration
    /// set so far; reading them seals nothing.
    public static var statistics: Statistics {
        if let accountant = Accountant.existing { return accountant.statistics }
        let budget = Settings.shared.accounting.value.policy.thresholds.byteBudget(
            heapSize: libgc_isStarted() ? libgc_heapSize() : 0)
        return Statistics(
            liveBytes: 0, liveObjects: 0, bytesSinceCollection: 0, objectsSinceCollection: 0, collectionsRequested: 0,
            totalBytesAdded: 0, refusedRemovals: 0, byteBudget: budget)
    }

    /// Sets the policy and where collections run, for the whole process.
    ///
    /// - Warning: Only before the first report (``add(byteCount:objects:)``
    ///   or ``remove(byteCount:objects:)``); the first report seals the
    ///   configuration.
    /// - Parameter configuration: The policy and the collection mode.
    /// - Throws: ``GCError/alreadyInitialized`` after the first report;
    ///   ``GCError/invalidArgument(_:)`` for a policy out of range (see
    ///   ``TriggerPolicy``).
    public static func configure(_ configuration: Configuration) throws(GCError) {
        try configuration.policy.validate()
        try Settings.shared.accounting.set(configuration)
    }

    /// The configuration in force.
    ///
    /// Before the first report sealed it, the one set so far. Reading it
    /// seals nothing.
    public static var configuration: Configuration { Settings.shared.accounting.value }

    /// Where a collection asked for by the accounting runs.
    public enum CollectionMode: Sendable, Equatable {
        /// In the reporting call, on the caller's thread (the default; see
        /// the type's discussion for why that is safe).
        case inline
        /// On a dedicated collector thread; the report returns at once and
        /// further requests are merged until that collection has run.
        case backgroundThread
    }

    /// The accounting's process-wide settings.
    public struct Configuration: Sendable, Equatable {
        /// When to collect; ``TriggerPolicy/never`` turns the trigger off.
        public var policy: TriggerPolicy
        /// Where the collection runs.
        public var collectionMode: CollectionMode

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - policy: When to collect; ``TriggerPolicy/default`` (the byte
        ///     rule) by default.
        ///   - collectionMode: Where the collection runs; inline by default.
        public init(policy: TriggerPolicy = .default, collectionMode: CollectionMode = .inline) {
            self.policy = policy
            self.collectionMode = collectionMode
        }
    }

    /// A snapshot of the accounting's counters, in bytes and objects.
    public struct Statistics: Sendable, Equatable {
        /// Foreign bytes added and not yet removed.
        public var liveBytes: Int
        /// Foreign objects added and not yet removed.
        public var liveObjects: Int
        /// Net foreign bytes added since the last collection: removals
        /// subtract, floored at zero.
        public var bytesSinceCollection: Int
        /// Net foreign objects added since the last collection.
        public var objectsSinceCollection: Int
        /// Collections the accounting ran or requested because of its policy.
        public var collectionsRequested: Int
        /// All foreign bytes ever added.
        public var totalBytesAdded: Int
        /// Removals refused because they exceeded the live counts.
        public var refusedRemovals: Int
        /// The byte budget now, in bytes: `max(floor, heap size × fraction)`
        /// (nil when the policy has no byte rule).
        public var byteBudget: Int?
    }

    /// Misuse of the accounting.
    ///
    /// Whatever the error, the counters are left as they were.
    public enum AccountingError: Error, Equatable, Sendable, CustomStringConvertible {
        /// A removal exceeded what is live; nothing was changed.
        case removedMoreThanAdded(byteCount: Int, objects: Int, liveBytes: Int, liveObjects: Int)
        /// A count was negative.
        case negativeCount
        /// Adding would take a live count past `Int.max`; nothing was changed.
        case overflow(byteCount: Int, objects: Int, liveBytes: Int, liveObjects: Int)

        /// A sentence that names the error and the counts involved.
        public var description: String {
            switch self {
            case .removedMoreThanAdded(let bytes, let objects, let liveBytes, let liveObjects):
                return "removing \(bytes) foreign bytes (\(objects) objects) but only \(liveBytes) "
                    + "(\(liveObjects) objects) are live"
            case .negativeCount:
                return "foreign byte and object counts must not be negative"
            case .overflow(let bytes, let objects, let liveBytes, let liveObjects):
                return "adding \(bytes) foreign bytes (\(objects) objects) to \(liveBytes) (\(liveObjects) objects) "
                    + "would pass Int.max"
            }
        }
    }
}

/// The process's counters and trigger.
internal final class Accountant: Sendable {
    /// The accountant, made at the first report (which seals the
    /// accounting's configuration) and held by ``Runtime``.
    static var shared: Accountant { Runtime.shared.accountant }

    /// The accountant if the first report made it; nil before (making
    /// nothing, not even the runtime).
    static var existing: Accountant? { Runtime.existing?.existingAccountant }

    let configuration: ForeignMemory.Configuration
    private let thresholds: ForeignMemory.Thresholds

    private let liveBytes = Atomic<Int>(0)
    private let liveObjects = Atomic<Int>(0)
    private let totalAdded = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let sinceBytes = Atomic<Int>(0)
    private let sinceObjects = Atomic<Int>(0)
    /// The collection epoch the since-counters belong to.
    private let epochSeen = Atomic<UInt64>(0)
    /// CLOCK_MONOTONIC time, in ns, when the current window began: when the
    /// accounting first saw the epoch, or requested its collection.
    private let windowStart = Atomic<UInt64>(0)
    private let requested = Atomic<Int>(0)
    /// Set while a collection the accounting asked for is running (inline)
    /// or pending (background): requests in between are merged.
    fileprivate let collectionPending = Atomic<Bool>(false)
    private let background: BackgroundCollector?

    /// Made by ``Runtime/accountant`` only.
    init(threads: BackgroundThreads) {
        configuration = Settings.shared.accounting.seal()
        thresholds = configuration.policy.thresholds
        epochSeen.store(shim_collectionEpoch(), ordering: .relaxed)
        windowStart.store(monotonicNanoseconds(), ordering: .relaxed)
        background =
            configuration.collectionMode == .backgroundThread && !thresholds.isEmpty
            ? BackgroundCollector(threads: threads) : nil
    }

    /// In a forked child (through ``Runtime``): a collection requested or
    /// running when the process forked never finishes there, so the flag
    /// that merges requests is cleared.
    func resetInChild() {
        collectionPending.store(false, ordering: .relaxed)
    }

    func add(byteCount: Int, objects: Int) throws(ForeignMemory.AccountingError) -> ForeignMemory.Allocation {
        // Compare-and-swap so that a live count never passes Int.max, even
        // when additions race.
        if let bytes = Accountant.add(byteCount, to: liveBytes) {
            throw .overflow(
                byteCount: byteCount, objects: objects, liveBytes: bytes,
                liveObjects: liveObjects.load(ordering: .relaxed))
        }
        if let count = Accountant.add(objects, to: liveObjects) {
            _ = Accountant.subtract(byteCount, from: liveBytes)  // undo: nothing changes
            throw .overflow(
                byteCount: byteCount, objects: objects, liveBytes: liveBytes.load(ordering: .relaxed),
                liveObjects: count)
        }
        Accountant.addSaturating(byteCount, to: totalAdded)
        if thresholds.isEmpty {
            return ForeignMemory.Allocation(byteCount: byteCount, objects: objects, window: shim_collectionEpoch())
        }
        let window = syncEpoch()
        let bytes = Accountant.addSaturating(byteCount, to: sinceBytes)
        let count = Accountant.addSaturating(objects, to: sinceObjects)
        if isDue(bytes: bytes, objects: count) { requestCollection() }
        return ForeignMemory.Allocation(byteCount: byteCount, objects: objects, window: window)
    }

    func remove(byteCount: Int, objects: Int, window: UInt64?) throws(ForeignMemory.AccountingError) {
        // Compare-and-swap so a removal can never take a counter below zero,
        // even when removals race.
        if let bytes = Accountant.subtract(byteCount, from: liveBytes) {
            refused.add(1, ordering: .relaxed)
            throw .removedMoreThanAdded(
                byteCount: byteCount, objects: objects, liveBytes: bytes,
                liveObjects: liveObjects.load(ordering: .relaxed))
        }
        if let count = Accountant.subtract(objects, from: liveObjects) {
            liveBytes.add(byteCount, ordering: .relaxed)  // undo: nothing changes
            refused.add(1, ordering: .relaxed)
            throw .removedMoreThanAdded(
                byteCount: byteCount, objects: objects,
                liveBytes: liveBytes.load(ordering: .relaxed), liveObjects: count)
        }
        // The trigger follows the growth of the current window: memory added
        // and given back within it offsets itself (a program that closes
        // every handle it opens must not collect as often as one that drops
        // them), but memory added in an earlier window must not offset this
        // one's additions: the vacuum after each collection gives back the
        // previous window's handles, and taking those off the new window's
        // count would make each gap between collections about a budget
        // longer than the one before.
        guard let window, !thresholds.isEmpty, syncEpoch() == window else { return }
        Accountant.subtractFloored(byteCount, from: sinceBytes)
        Accountant.subtractFloored(objects, from: sinceObjects)
    }

    /// Replaces `counter`'s value `v` with `next(v)` atomically, unless
    /// `next` refuses it (nil).
    ///
    /// Returns the counter's value afterwards, and whether it was replaced.
    @inline(__always)
    private static func update(
        _ counter: borrowing Atomic<Int>, _ next: (Int) -> Int?
    ) -> (value: Int, replaced: Bool) {
        var value = counter.load(ordering: .relaxed)
        while let desired = next(value) {
            let (done, current) = counter.compareExchange(expected: value, desired: desired, ordering: .relaxed)
            if done { return (desired, true) }
            value = current
        }
        return (value, false)
    }

    /// Adds `amount` to `counter` atomically, unless that would pass Int.max.
    ///
    /// Returns nil if added, else the counter's value (left unchanged).
    private static func add(_ amount: Int, to counter: borrowing Atomic<Int>) -> Int? {
        let (value, added) = update(counter) { $0 <= Int.max - amount ? $0 + amount : nil }
        return added ? nil : value
    }

    /// Sets `counter` to `min(Int.max, counter + amount)` atomically; returns the new value.
    @discardableResult
    private static func addSaturating(_ amount: Int, to counter: borrowing Atomic<Int>) -> Int {
        update(counter) { $0 > Int.max - amount ? Int.max : $0 + amount }.value
    }

    /// Subtracts `amount` from `counter` atomically, unless that would go below zero.
    ///
    /// Returns nil if subtracted, else the counter's value (left unchanged).
    private static func subtract(_ amount: Int, from counter: borrowing Atomic<Int>) -> Int? {
        let (value, subtracted) = update(counter) { $0 >= amount ? $0 - amount : nil }
        return subtracted ? nil : value
    }

    /// Sets `counter` to `max(0, counter - amount)` atomically.
    private static func subtractFloored(_ amount: Int, from counter: borrowing Atomic<Int>) {
        _ = update(counter) { $0 > 0 ? max(0, $0 - amount) : nil }
    }

    var statistics: ForeignMemory.Statistics {
        let current = epochSeen.load(ordering: .relaxed) == shim_collectionEpoch()
        return ForeignMemory.Statistics(
            liveBytes: liveBytes.load(ordering: .relaxed),
            liveObjects: liveObjects.load(ordering: .relaxed),
            bytesSinceCollection: current ? sinceBytes.load(ordering: .relaxed) : 0,
            objectsSinceCollection: current ? sinceObjects.load(ordering: .relaxed) : 0,
            collectionsRequested: requested.load(ordering: .relaxed),
            totalBytesAdded: totalAdded.load(ordering: .relaxed),
            refusedRemovals: refused.load(ordering: .relaxed),
            byteBudget: thresholds.byteBudget(heapSize: libgc_heapSize()))
    }

    /// Starts a new window when a collection happened since the last report.
    ///
    /// The one thread that moves `epochSeen` on resets the since-counters.
    /// Returns the current window (the collection epoch).
    @inline(__always)
    @discardableResult
    private func syncEpoch() -> UInt64 {
        let epoch = shim_collectionEpoch()
        let seen = epochSeen.load(ordering: .relaxed)
        guard seen != epoch else { return epoch }
        let (won, _) = epochSeen.compareExchange(expected: seen, desired: epoch, ordering: .relaxed)
        guard won else { return epoch }
        sinceBytes.store(0, ordering: .relaxed)
        sinceObjects.store(0, ordering: .relaxed)
        if thresholds.intervalNanoseconds != nil {
            windowStart.store(monotonicNanoseconds(), ordering: .relaxed)
        }
        return epoch
    }

    @inline(__always)
    private func isDue(bytes: Int, objects: Int) -> Bool {
        if let limit = thresholds.objectLimit, objects >= limit { return true }
        if let floor = thresholds.byteFloor, bytes >= floor,
            let budget = thresholds.byteBudget(heapSize: libgc_heapSize()), bytes >= budget
        {
            return true
        }
        if let interval = thresholds.intervalNanoseconds, objects > 0 {
            let start = windowStart.load(ordering: .relaxed)
            if monotonicNanoseconds() &- start >= interval { return true }
        }
        return false
    }

    private func requestCollection() {
        // One request at a time; others arriving meanwhile are merged.
        guard collectionPending.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return }
        requested.add(1, ordering: .relaxed)
        if thresholds.intervalNanoseconds != nil {
            windowStart.store(monotonicNanoseconds(), ordering: .relaxed)
        }
        if let background {
            background.request()
            return
        }
        enterCollector()
        // Finalizers free foreign memory on their own thread; a thread that
        // reports faster than that thread frees (a loaded machine gives it
        // little of the processor) would pile up collection after
        // collection of dead objects whose memory is not given back yet.
        // Before the next collection, wait a little for the previous one's
        // finalizers: this bounds the live foreign bytes to about two
        // budgets where they would otherwise follow the scheduler.
        _ = shim_finalizerThreadCatchUp(timeoutNanoseconds: Accountant.finalizerCatchUpTimeout)
        libgc_collectSome()
        collectionPending.store(false, ordering: .releasing)
    }

    /// How long a report due for a collection waits for the finalizers of
    /// the previous one, in ns: long enough for a starved finalizer thread
    /// to run a batch, short enough that a thread holding a lock a
    /// finalizer needs loses only that.
    static var finalizerCatchUpTimeout: UInt64 { 20_000_000 }

    /// Called by the background collector once its collection has run.
    fileprivate func backgroundCollectionDone() {
        collectionPending.store(false, ordering: .releasing)
    }
}

/// A thread that runs the collections the accounting requests, when
/// ``ForeignMemory/CollectionMode/backgroundThread`` is chosen.
private final class BackgroundCollector: Sendable {
    private let wakeup = Semaphore()

    /// Starts the thread (a forked child starts its own: see
    /// ``BackgroundThreads``).
    init(threads: BackgroundThreads) {
        let wakeup = self.wakeup
        threads.start(name: "gc-foreign") {
            enterCollector()
            while true {
                wakeup.wait()
                libgc_collectSome()
                Accountant.shared.backgroundCollectionDone()
            }
        }
    }

    func request() {
        wakeup.signal()
    }
}
