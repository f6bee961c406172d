import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Watches the process's memory and tells the program when it runs short.
///
/// It reads the GC heap in use (against the heap limit), live foreign bytes
/// (from a source you give), the resident set size, and the limits the
/// system sets, which it finds on its own: cgroup v2 and v1 limits on the
/// path up from the process's own group, `RLIMIT_AS` and `RLIMIT_DATA`, and
/// the machine's memory as the last resort; see ``Configuration``. From the
/// largest used-to-limit ratio it keeps a ``MemoryPressureLevel`` with
/// hysteresis, calls observers on each change, and collects before raising
/// the level. Where the kernel offers them, its pressure notices (PSI
/// triggers, cgroup `memory.events` and `memory.pressure_level`) change the
/// level at once.
///
/// ```swift
/// let monitor = try MemoryPressureMonitor()
/// monitor.addObserver { change in print("memory \(change.current)") }
/// // per request:
/// guard monitor.level == .normal else { return }  // refuse it
/// ```
///
/// Samples are taken by a background thread every
/// ``Configuration/samplingInterval``, when libgc grows its heap, at each
/// kernel notice, after every collection
/// (``Configuration/samplesAfterCollections``), and at ``sample()``. One
/// sample costs microseconds (the figures are in the README); ``level`` is
/// one atomic load.
///
/// The monitor stops when ``stop()`` is called or the monitor is released.
/// See <doc:MemoryPressure>.
public final class MemoryPressureMonitor: Sendable {
    private let core: MonitorCore

    /// Starts a monitor.
    ///
    /// Finds the cgroup levels to read and arms the kernel notices, then
    /// takes a first sample before returning, so ``level`` is meaningful at
    /// once.
    ///
    /// - Parameter configuration: Thresholds, budgets, limits, notices and
    ///   sampling.
    /// - Throws: ``GCError/invalidArgument(_:)`` for a threshold, share,
    ///   interval, duration or limit out of range, or a cgroup directory
    ///   that does not exist or holds no memory limit file (see
    ///   ``Configuration``); ``GCError/outOfMemory(byteCount:)`` if the
    ///   post-GC hook cannot be allocated.
    public init(_ configuration: Configuration = Configuration()) throws(GCError) {
        try configuration.validate()
        enterCollector()
        let core = MonitorCore(configuration: configuration)
        _ = core.sample(reason: .demand)
        if configuration.samplesAfterCollections {
            try core.installHook()
        }
        core.startThread()
        self.core = core
    }

    deinit {
        core.stop()
    }

    /// The current level: one atomic load, cheap enough to check per request.
    public var level: MemoryPressureLevel { core.level.load(ordering: .relaxed) }

    /// The newest sample.
    public var latestSample: MemoryPressureSample { core.latest.withLock { $0 } }

    /// Takes a sample now and updates the level.
    ///
    /// It collects first if ``Configuration/collectsOnWarning`` says so, and
    /// calls the observers on a change. Called from inside an observer, it
    /// returns the newest sample without taking a new one.
    ///
    /// - Returns: The sample.
    @discardableResult
    public func sample() -> MemoryPressureSample {
        core.sample(reason: .demand)
    }

    /// Calls `body` on every level change, on the thread that took the
    /// sample (the sampling thread, the post-GC hook thread after a collection,
    /// or a caller of ``sample()``), one change at a time, in order.
    ///
    /// `body` must return quickly and must not call ``GC/runFinalizers()``.
    /// It should not hold the monitor strongly: the monitor stops when it is
    /// released, and a monitor its own observer holds is never released
    /// (call ``stop()`` then).
    ///
    /// - Parameter body: Called with each change of level.
    /// - Returns: An identifier for ``removeObserver(_:)``.
    @discardableResult
    public func addObserver(_ body: @escaping @Sendable (MemoryPressureChange) -> Void) -> ObserverID {
        core.observers.withLock { registry in
            registry.nextID += 1
            registry.bodies[registry.nextID] = body
            return ObserverID(rawValue: registry.nextID)
        }
    }

    /// Stops calling an observer.
    ///
    /// A change already being delivered may still reach it.
    ///
    /// - Parameter id: What ``addObserver(_:)`` returned.
    public func removeObserver(_ id: ObserverID) {
        core.observers.withLock { _ = $0.bodies.removeValue(forKey: id.rawValue) }
    }

    /// Stops the sampling thread and the post-GC hook.
    ///
    /// ``level`` keeps its last value; ``sample()`` still works.
    public func stop() {
        core.stop()
    }

    /// Counters of the monitor's own work.
    public var statistics: Statistics {
        Statistics(
            samples: core.samples.load(ordering: .relaxed),
            levelChanges: core.changes.load(ordering: .relaxed),
            collectionsRequested: core.collections.load(ordering: .relaxed),
            totalCollectionTime: .nanoseconds(core.collectionNanoseconds.load(ordering: .relaxed)),
            totalSampleCost: .nanoseconds(core.costNanoseconds.load(ordering: .relaxed)),
            notices: core.notices.load(ordering: .relaxed))
    }

    /// The first cgroup directory the monitor reads limits from (the
    /// process's own group when it holds memory files), if any.
    public var cgroupDirectory: String? { core.reader.levels.first?.directory }

    /// The kernel notices armed, one line per file, for example
    /// `/proc/pressure/memory: psi some and full 200 ms in 2000 ms` or
    /// `/sys/fs/cgroup/memory/app/memory.pressure_level: low, medium,
    /// critical (cgroup.event_control)`; empty when the kernel offers none
    /// or ``Configuration/kernelNotices`` asks for none.
    public var kernelNoticeSources: [String] { core.noticeDescriptions }

    /// Identifies an observer.
    public struct ObserverID: RawRepresentable, Hashable, Sendable {
        /// The observer's number within its monitor.
        public var rawValue: Int
        /// An identifier with the given number.
        ///
        /// - Parameter rawValue: The observer's number within its monitor.
        public init(rawValue: Int) { self.rawValue = rawValue }
    }

    /// Counters of the monitor's own work (times are wall-clock durations).
    public struct Statistics: Sendable, Equatable {
        /// Samples taken.
        public var samples: Int
        /// Level changes.
        public var levelChanges: Int
        /// Collections run because of ``Configuration/collectsOnWarning``.
        public var collectionsRequested: Int
        /// Time those collections took.
        public var totalCollectionTime: Duration
        /// Time spent reading sources, over all samples.
        public var totalSampleCost: Duration
        /// Kernel notices received (see ``Configuration/kernelNotices``).
        public var notices: Int
    }
}

/// The monitor's state, shared by the public handle, the sampling thread and
/// the post-GC hook; the handle's deinit stops the other two.
internal final class MonitorCore: Sendable {
    enum Reason {
        /// `growth`: libgc grew its heap.
        case demand, timer, collection, growth
        /// The strongest of the notices the thread woke for.
        case notice(MemoryPressureNotice)
    }

    struct Registry {
        var nextID = 0
        var bodies: [Int: @Sendable (MemoryPressureChange) -> Void] = [:]
    }

    let configuration: MemoryPressureMonitor.Configuration
    let reader: SystemMemoryReader
    let level = Atomic<MemoryPressureLevel>(.normal)
    let latest: Lock<MemoryPressureSample>
    let observers = Lock(Registry())
    let samples = Atomic<Int>(0)
    let changes = Atomic<Int>(0)
    let collections = Atomic<Int>(0)
    let costNanoseconds = Atomic<Int64>(0)
    let collectionNanoseconds = Atomic<Int64>(0)
    let notices = Atomic<Int>(0)
    /// Where the cgroup levels and the preferred `memory.pressure` are.
    private let cgroupSetup: CgroupSetup
    /// The kernel notices the thread waits on; replaced in a forked child
    /// (its descriptors share the parent's kernel registrations).
    private let watcher = Lock<NoticeWatcher?>(nil)
    /// When the level a notice holds ends (CLOCK_MONOTONIC nanoseconds, 0:
    /// no hold), readable by the thread without the sampling lock.
    private let holdEnd = Atomic<UInt64>(0)
    /// Held for a whole sample, observers included: samples and their
    /// changes are handled one at a time, in order.
    private let sampling = Lock(SamplingState())

    struct SamplingState {
        /// The collection count of the previous sample (nil before the first).
        var collections: UInt64?
        /// When a sample first saw the current collection count; nil if that
        /// collection predates the monitor.
        var collectionSeen: ContinuousClock.Instant?
        /// Collection time the monitor may still spend (a token bucket that
        /// fills at `collectionTimeShare` of wall time); nil until first used,
        /// when it starts full.
        var allowance: Duration?
        var allowanceUpdated = ContinuousClock.now
        /// The level kernel notices hold the monitor at until `holdEnd`.
        var heldLevel = MemoryPressureLevel.normal
    }

    /// The thread inside `sampling` (pthread_self), 0 for none: lets an
    /// observer's call to sample() return instead of deadlocking.
    private let samplingThread = Atomic<UInt>(0)
    private let stopped = Atomic<Bool>(false)
    /// The sampling thread's token in ``BackgroundThreads`` (0: none).
    private let forkToken = Atomic<Int>(0)
    private let hook = Lock<PostGCHook?>(nil)

    init(configuration: MemoryPressureMonitor.Configuration) {
        self.configuration = configuration
        cgroupSetup = configuration.cgroup.resolve()
        reader = SystemMemoryReader(
            readsResident: configuration.readsResidentSize, levels: cgroupSetup.levels,
            readsResourceLimits: configuration.readsResourceLimits,
            readsMachineMemory: configuration.readsMachineMemory)
        latest = Lock(
            MemoryPressureSample(
                gcHeapBytes: 0, gcInUseBytes: 0, collections: 0, utilization: 0, time: .now, cost: .zero))
    }

    var noticeDescriptions: [String] { watcher.withLock { $0?.descriptions ?? [] } }

    // MARK: Sampling

    /// Reads every source once.
    func read() -> MemoryPressureSample {
        let clock = ContinuousClock()
        let start = clock.now
        let statistics = GC.statistics
        let heapLimit: Int? =
            switch configuration.gcHeapBudget {
            case .collectorLimit: HeapLimit.current
            case .bytes(let bytes): bytes
            case .unwatched: nil
            }
        let inUse = statistics.heapSize - statistics.freeBytes
        let system = reader.read(gcFreeBytes: statistics.freeBytes, gcInUseBytes: inUse)
        var sample = MemoryPressureSample(
            gcHeapBytes: statistics.heapSize,
            gcInUseBytes: inUse,
            gcHeapLimit: heapLimit,
            foreignBytes: configuration.foreignBytes?(),
            foreignLimit: configuration.foreignLimit,
            residentBytes: system.residentBytes,
            residentLimit: configuration.residentLimit,
            cgroupLimit: system.cgroup,
            resourceLimit: system.resource,
            machineLimit: system.machine,
            collections: UInt64(statistics.collections),
            utilization: 0,
            time: start,
            cost: .zero)
        sample.computeUtilization()
        sample.cost = clock.now - start
        costNanoseconds.add(nanoseconds(sample.cost), ordering: .relaxed)
        samples.add(1, ordering: .relaxed)
        return sample
    }

    func sample(reason: Reason) -> MemoryPressureSample {
        let me = UInt(bitPattern: Int(bitPattern: pthread_self()))
        if samplingThread.load(ordering: .relaxed) == me { return latest.withLock { $0 } }
        if case .collection = reason {
            // Never block the hook thread: a sample in progress will do.
            return sampling.withLockIfAvailable { state in sampleLocked(&state, reason: reason, thread: me) }
                ?? latest.withLock { $0 }
        }
        return sampling.withLock { state in sampleLocked(&state, reason: reason, thread: me) }
    }

    private func sampleLocked(_ state: inout SamplingState, reason: Reason, thread: UInt) -> MemoryPressureSample {
        samplingThread.store(thread, ordering: .relaxed)
        defer { samplingThread.store(0, ordering: .relaxed) }
        let current = level.load(ordering: .relaxed)
        let held = updateHold(&state, reason: reason)
        var sample = read()
        if case .notice(let notice) = reason { sample.notice = notice }
        noteCollections(of: sample, in: &state)
        var next = configuration.nextLevel(after: current, utilization: sample.utilization)
        // After a collection the figure is fresh; on a kernel notice memory
        // is short now, so the level rises without a collection first.
        let collectsFirst: Bool =
            switch reason {
            case .collection, .notice: false
            case .demand, .timer, .growth: configuration.collectsOnWarning
            }
        if collectsFirst && (next > current || (current > .normal && next >= current)),
            let charged = collectionIsDue(&state, sample: sample)
        {
            // The GC heap figure counts garbage until a collection: before
            // raising the level, and now and then while it stays raised (the
            // program may have dropped its data since), collect and look again.
            // Right after a collection (reason .collection) the figure is
            // fresh. When a collection is not due, the level follows the
            // reading; a later recheck lowers it if it was garbage.
            let pause = ContinuousClock().measure { GC.collect() }
            if charged { state.allowance = (state.allowance ?? .zero) - pause }
            collections.add(1, ordering: .relaxed)
            collectionNanoseconds.add(nanoseconds(pause), ordering: .relaxed)
            let notice = sample.notice
            sample = read()
            sample.notice = notice
            noteCollections(of: sample, in: &state)
            next = configuration.nextLevel(after: current, utilization: sample.utilization)
        }
        next = max(next, held)
        latest.withLock { $0 = sample }
        if next != current {
            level.store(next, ordering: .relaxed)
            changes.add(1, ordering: .relaxed)
            let change = MemoryPressureChange(previous: current, current: next, sample: sample)
            for body in observers.withLock({ Array($0.bodies.values) }) {
                body(change)
            }
        }
        return sample
    }

    /// Starts or extends the hold of a notice, ends an expired one; returns
    /// the level held now (normal: none).
    private func updateHold(_ state: inout SamplingState, reason: Reason) -> MemoryPressureLevel {
        let now = monotonicNanoseconds()
        var end = holdEnd.load(ordering: .relaxed)
        if end != 0 && now >= end {
            end = 0
            state.heldLevel = .normal
        }
        if case .notice(let notice) = reason, notice.level > .normal {
            var hold = configuration.kernelNotices.hold
            if case .stall = notice.kind, let window = watcher.withLock({ $0?.stallWindow }) {
                hold = max(hold, window)
            }
            end = max(end, now + UInt64(nanoseconds(hold)))
            state.heldLevel = max(state.heldLevel, notice.level)
        }
        holdEnd.store(end, ordering: .relaxed)
        return end == 0 ? .normal : state.heldLevel
    }

    private func noteCollections(of sample: MemoryPressureSample, in state: inout SamplingState) {
        guard let previous = state.collections else {
            state.collections = sample.collections
            return
        }
        if sample.collections != previous {
            state.collections = sample.collections
            state.collectionSeen = sample.time
        }
    }

    /// Whether the monitor may collect now, and whether the collection is
    /// charged to the time allowance (nil: not now).
    ///
    /// Never within a sampling interval (10 ms without a thread) of the last
    /// collection, anyone's. Then free of charge when a sixth of the heap
    /// (half of libgc's own trigger, heap size / free-space divisor) was
    /// allocated since the last collection: libgc would collect soon anyway,
    /// so the monitor at most doubles the collection rate of an allocating
    /// program. Otherwise (data dropped long after it was allocated, which
    /// only a collection finds) it is charged to an allowance that fills at
    /// `collectionTimeShare` of wall time, up to two pauses: after a quiet
    /// spell one check runs at once, after that these collections average at
    /// most that share.
    private func collectionIsDue(_ state: inout SamplingState, sample: MemoryPressureSample) -> Bool? {
        let now = ContinuousClock.now
        let statistics = GC.statistics
        let share = configuration.collectionTimeShare
        let lastPause = max(statistics.lastPause, .microseconds(100))
        let cap = lastPause * 2
        let accrued = (state.allowance ?? cap) + (now - state.allowanceUpdated) * share
        state.allowance = min(cap, accrued)
        state.allowanceUpdated = now
        if let seen = state.collectionSeen, now - seen < configuration.samplingInterval ?? .milliseconds(10) {
            return nil
        }
        let divisor = Runtime.shared.configuration.freeSpaceDivisor ?? 3
        if statistics.bytesSinceCollection >= statistics.heapSize / (2 * divisor) { return false }
        return state.allowance! >= lastPause ? true : nil
    }

    // MARK: Hook and thread

    func installHook() throws(GCError) {
        let newHook = try PostGCHook(group: .memoryPressure) { [self] event, _ in
            guard event.isLatest, !stopped.load(ordering: .relaxed) else { return .done }
            _ = sample(reason: .collection)
            return .done
        }
        hook.withLock { $0 = newHook }
    }

    /// Starts the thread that samples every interval and waits for kernel
    /// notices, if there is either.
    func startThread() {
        guard armedWatcher() != nil else { return }
        // The thread holds the core until its loop ends (or, recorded, until
        // stop() removes it). A forked child starts its own, with notices of
        // its own, while the monitor is running.
        let restartsInChild = { @Sendable [self] () -> Bool in
            guard !self.stopped.load(ordering: .relaxed) else { return false }
            self.watcher.withLock { $0?.closeAll() }
            return self.armedWatcher() != nil
        }
        let token = Runtime.shared.threads.start(name: "gc-pressure", prepareInChild: restartsInChild) {
            [self] in
            if let watcher = self.watcher.withLock({ $0 }) { self.runLoop(watcher) }
        }
        forkToken.store(token, ordering: .relaxed)
    }

    /// Arms the kernel notices; nil when the thread has nothing to do (no
    /// sampling interval and no notice armed).
    private func armedWatcher() -> NoticeWatcher? {
        let notices = configuration.kernelNotices
        let wanted = notices.stallThreshold != nil || notices.cgroupEvents
        guard configuration.samplingInterval != nil || wanted else { return nil }
        let armed = NoticeWatcher(
            notices: wanted ? notices : .none, levels: cgroupSetup.levels,
            pressureDirectory: cgroupSetup.pressureDirectory)
        guard configuration.samplingInterval != nil || armed.listens else { return nil }
        armed.wakeOnHeapGrowth()
        watcher.withLock { $0 = armed }
        return armed
    }

    /// Samples every interval, when libgc grows its heap, at each kernel
    /// notice, and when a notice's hold ends (so the level can fall); waits
    /// in `poll` in between, which libgc's signals interrupt.
    private func runLoop(_ watcher: NoticeWatcher) {
        let interval = configuration.samplingInterval.map { UInt64(nanoseconds($0)) }
        var nextTimer = interval.map { monotonicNanoseconds() + $0 }
        while !stopped.load(ordering: .relaxed) {
            let now = monotonicNanoseconds()
            let hold = holdEnd.load(ordering: .relaxed)
            let deadline = [nextTimer, hold == 0 ? nil : hold].compactMap { $0 }.min()
            // Rounded up, so the thread wakes at or after the deadline.
            let timeout = deadline.map { Int32(clamping: ($0 > now ? $0 - now + 999_999 : 0) / 1_000_000) } ?? -1
            let (notices, woken) = watcher.wait(milliseconds: timeout)
            if stopped.load(ordering: .relaxed) { break }
            // Woken and not stopped: the heap grew.
            if woken { _ = sample(reason: .growth) }
            if let strongest = notices.max(by: { $0.level < $1.level }) {
                self.notices.add(notices.count, ordering: .relaxed)
                // A notice that holds no level (v1 `low`, frequent in a
                // group full of page cache) samples at most every 10 ms.
                let last = latest.withLock { $0.time }
                if strongest.level > .normal || ContinuousClock.now - last >= .milliseconds(10) {
                    _ = sample(reason: .notice(strongest))
                }
            }
            let after = monotonicNanoseconds()
            if let next = nextTimer, after >= next, let interval {
                _ = sample(reason: .timer)
                nextTimer = after + interval
            } else if case let end = holdEnd.load(ordering: .relaxed), end != 0, after >= end {
                _ = sample(reason: .timer)
            }
        }
    }

    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        if case let token = forkToken.load(ordering: .relaxed), token != 0 { Runtime.shared.threads.remove(token) }
        hook.withLock { hook in
            hook?.cancel()
            hook = nil
        }
        watcher.withLock { $0 }?.wake()
    }
}

private func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}
