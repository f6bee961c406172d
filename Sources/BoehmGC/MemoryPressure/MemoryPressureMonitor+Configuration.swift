extension MemoryPressureMonitor {
    /// Which limit the GC heap is judged against.
    public enum HeapBudget: Sendable, Equatable {
        /// The collector's heap limit at each sample (``GC/maximumHeapSize``).
        ///
        /// There is no GC-heap budget while there is no limit.
        case collectorLimit
        /// A fixed number of bytes, 1 or more.
        case bytes(Int)
        /// The GC heap takes no part in the level.
        case unwatched
    }

    /// Where the cgroup memory limits come from.
    public enum CgroupSource: Sendable, Equatable {
        /// The process's own groups, found through `/proc/self/cgroup` and
        /// `/proc/self/mountinfo` when the monitor starts: every cgroup v2
        /// group from the process's own up to the hierarchy's mount point
        /// (`memory.max`, `memory.high`), then every cgroup v1 memory group
        /// likewise (`memory.limit_in_bytes`, `memory.soft_limit_in_bytes`).
        /// A machine without cgroups, or groups without limits, is normal:
        /// then the cgroup budget takes no part.
        case automatic
        /// One group directory: a cgroup v2 group (it holds `memory.max`) or
        /// a cgroup v1 memory group (it holds `memory.limit_in_bytes`).
        case directory(String)
        /// A hierarchy mounted at `mountPoint` and the process's group
        /// `group` in it (a path such as `/app/worker`): every directory
        /// from the group up to the mount point, as ``automatic`` walks.
        case hierarchy(mountPoint: String, group: String)
        /// Do not read cgroup files.
        case none
    }

    /// The kernel's memory-pressure notices the monitor listens to, on its
    /// thread, so the level changes when the kernel reports pressure, not
    /// only at the next sample.
    ///
    /// A notice makes the monitor sample at once and holds the level at
    /// least at the notice's level (``MemoryPressureNotice/level``) for
    /// ``hold``; it raises the level without collecting first (the kernel
    /// is short of memory now). What the kernel does not offer (no PSI, no
    /// limit, no permission to write a trigger) is left out, and polling
    /// remains; ``MemoryPressureMonitor/kernelNoticeSources`` says what is
    /// armed.
    public struct KernelNotices: Sendable, Equatable {
        /// The stall time within ``stallWindow`` at which a pressure stall
        /// (PSI) trigger fires; nil for no trigger.
        ///
        /// In `(0, stallWindow]`; 100 ms by default. Two triggers are written, `some` (warning) and `full` (critical),
        /// into the process's own cgroup v2 group's `memory.pressure`, or
        /// into `/proc/pressure/memory` when the process has none.
        public var stallThreshold: Duration?
        /// The PSI trigger's window, in `[500 ms, 10 s]`; 1 s by default.
        ///
        /// The kernel takes windows that are not multiples of 2 s only from
        /// a process with CAP_SYS_RESOURCE; otherwise the monitor rounds the
        /// window up to one (and scales the threshold), and the kernel
        /// checks the trigger every 2 s instead of every tenth of a window.
        public var stallWindow: Duration
        /// Whether to watch the cgroup files that report pressure.
        ///
        /// They are the limited groups' cgroup v2 `memory.events` (`high`,
        /// `max`, `oom`) and cgroup v1 `memory.pressure_level` (`low`,
        /// `medium`, `critical`). True by default.
        public var cgroupEvents: Bool
        /// How long a notice holds the level up.
        ///
        /// In `[0, 1 h]`; 1 s by default. A stall notice holds it for at
        /// least the stall window.
        public var hold: Duration

        /// Creates a notice configuration; every argument left out keeps its
        /// default.
        ///
        /// - Parameters:
        ///   - stallThreshold: The stall time within the window at which a
        ///     PSI trigger fires (100 ms by default); nil for none.
        ///   - stallWindow: The PSI window (1 s by default).
        ///   - cgroupEvents: Whether to watch `memory.events` and
        ///     `memory.pressure_level` (true by default).
        ///   - hold: How long a notice holds the level up (1 s by default).
        public init(
            stallThreshold: Duration? = .milliseconds(100), stallWindow: Duration = .seconds(1),
            cgroupEvents: Bool = true, hold: Duration = .seconds(1)
        ) {
            self.stallThreshold = stallThreshold
            self.stallWindow = stallWindow
            self.cgroupEvents = cgroupEvents
            self.hold = hold
        }

        /// Every notice the kernel offers, with the default thresholds.
        public static var automatic: KernelNotices { KernelNotices() }

        /// No notices: the monitor only samples.
        public static var none: KernelNotices { KernelNotices(stallThreshold: nil, cgroupEvents: false) }
    }

    /// How the monitor measures and judges memory.
    ///
    /// Each budget with a limit gives a ratio, used bytes over limit; the
    /// largest ratio is the process's utilisation. The GC heap, foreign and
    /// resident budgets take the limits given here; the cgroup,
    /// resource-limit and machine budgets take the limits the system sets,
    /// found on their own (``cgroup``, ``readsResourceLimits``,
    /// ``readsMachineMemory``; see <doc:MemoryPressure> for what is read, in
    /// which order). The level rises as soon as
    /// the utilisation reaches a threshold and falls only once it is
    /// `hysteresis` below that threshold, so it does not flap around one.
    ///
    /// Ratios are fractions (0.75 is 75 %); byte limits are in bytes.
    /// ``MemoryPressureMonitor/init(_:)`` checks the values.
    public struct Configuration: Sendable {
        /// Utilisation at which the level becomes ``MemoryPressureLevel/warning``, above 0.
        public var warningThreshold: Double
        /// Utilisation at which the level becomes ``MemoryPressureLevel/critical``, finite and at
        /// least ``warningThreshold``.
        public var criticalThreshold: Double
        /// How far below a threshold the utilisation must fall for the level
        /// to drop under it, in `0..<warningThreshold`.
        public var hysteresis: Double
        /// How often a background thread samples, more than zero and at most
        /// 24 hours.
        ///
        /// Nil for no thread: then the monitor samples at
        /// ``MemoryPressureMonitor/sample()`` and after collections.
        public var samplingInterval: Duration?
        /// Whether to sample after every collection as well (a post-GC hook):
        /// a collection is when the GC heap figure falls.
        public var samplesAfterCollections: Bool
        /// Whether a sample that would raise the level first runs a full collection and samples again.
        ///
        /// The level then rises only if the pressure is still there once
        /// garbage is gone. While the level
        /// stays raised, the monitor also collects now and then to see
        /// whether the program has dropped data the collector has not yet
        /// found: a program that refuses work allocates little and would
        /// otherwise not collect.
        ///
        /// These collections are rationed: the monitor collects only when
        /// the last collection (its own or anyone's) is at least one
        /// sampling interval old, and then either when a sixth of the heap
        /// was allocated since (half of libgc's own trigger: garbage a
        /// collection would soon find anyway) or, for data dropped long after
        /// it was allocated, within ``collectionTimeShare`` of wall time.
        /// When a collection is not due, the level follows the reading.
        ///
        /// On by default: without it a raised level falls only when
        /// something else collects, and a server that refuses work allocates
        /// nothing that would make the collector run. (The load-shedding
        /// example without it: the level stayed at warning with no session
        /// open, 160 of 1,880 allowed requests accepted in 3 s.)
        public var collectsOnWarning: Bool
        /// The largest share of wall time the collections of ``collectsOnWarning`` may take on average.
        ///
        /// In `(0, 1]`; 0.05 by default. Larger values let a raised level fall
        /// sooner after the program drops data: with 40 ms pauses, rechecks
        /// come every 0.8 s at 0.05 and every 0.2 s at 0.2.
        public var collectionTimeShare: Double
        /// The GC heap's limit (its figure is the heap in use, garbage
        /// included until the next collection).
        public var gcHeapBudget: HeapBudget
        /// Live foreign (non-GC) bytes, read at each sample.
        ///
        /// For example the total of memory that GC objects own outside the GC
        /// heap (`{ ForeignMemory.statistics.liveBytes }`). It must be cheap,
        /// must not block for long, and must not call the monitor.
        public var foreignBytes: (@Sendable () -> Int)?
        /// The budget for foreign bytes, in bytes (1 or more); nil for none.
        public var foreignLimit: Int?
        /// Whether to read the resident set size (`/proc/self/statm`).
        public var readsResidentSize: Bool
        /// The budget for the resident set size, in bytes (1 or more); nil
        /// for none.
        public var residentLimit: Int?
        /// Where the cgroup limits come from.
        public var cgroup: CgroupSource
        /// Whether to read `RLIMIT_AS` and `RLIMIT_DATA` (against the
        /// virtual and data sizes of `/proc/self/statm`).
        public var readsResourceLimits: Bool
        /// Whether to judge against the machine's memory (`/proc/meminfo`:
        /// `MemTotal - MemAvailable` against `MemTotal`) when no cgroup or
        /// resource limit is below it.
        public var readsMachineMemory: Bool
        /// The kernel's notices the monitor listens to.
        public var kernelNotices: KernelNotices

        /// Creates a configuration; every argument left out keeps its default.
        ///
        /// - Parameters:
        ///   - warningThreshold: Utilisation at which the level becomes
        ///     warning (0.75 by default).
        ///   - criticalThreshold: Utilisation at which the level becomes
        ///     critical (0.90 by default).
        ///   - hysteresis: How far below a threshold the utilisation must
        ///     fall for the level to drop (0.05 by default).
        ///   - samplingInterval: How often a background thread samples (100
        ///     ms by default); nil for no thread.
        ///   - samplesAfterCollections: Whether to sample after every
        ///     collection (true by default).
        ///   - collectsOnWarning: Whether to collect before raising the level
        ///     and, rationed, while it is raised (true by default).
        ///   - collectionTimeShare: The largest average share of wall time
        ///     those collections may take (0.05 by default).
        ///   - gcHeapBudget: The GC heap's limit (the collector's limit by
        ///     default).
        ///   - foreignBytes: Where live foreign bytes are read; nil for none.
        ///   - foreignLimit: The budget for foreign bytes, in bytes; nil for
        ///     none.
        ///   - readsResidentSize: Whether to read the resident set size (true
        ///     by default).
        ///   - residentLimit: The budget for the resident set size, in bytes;
        ///     nil for none.
        ///   - cgroup: Where the cgroup limits come from (found on its own
        ///     by default).
        ///   - readsResourceLimits: Whether to read `RLIMIT_AS` and
        ///     `RLIMIT_DATA` (true by default).
        ///   - readsMachineMemory: Whether to judge against the machine's
        ///     memory when nothing tighter is found (true by default).
        ///   - kernelNotices: The kernel's notices to listen to (all it
        ///     offers by default).
        public init(
            warningThreshold: Double = 0.75,
            criticalThreshold: Double = 0.90,
            hysteresis: Double = 0.05,
            samplingInterval: Duration? = .milliseconds(100),
            samplesAfterCollections: Bool = true,
            collectsOnWarning: Bool = true,
            collectionTimeShare: Double = 0.05,
            gcHeapBudget: HeapBudget = .collectorLimit,
            foreignBytes: (@Sendable () -> Int)? = nil,
            foreignLimit: Int? = nil,
            readsResidentSize: Bool = true,
            residentLimit: Int? = nil,
            cgroup: CgroupSource = .automatic,
            readsResourceLimits: Bool = true,
            readsMachineMemory: Bool = true,
            kernelNotices: KernelNotices = .automatic
        ) {
            self.warningThreshold = warningThreshold
            self.criticalThreshold = criticalThreshold
            self.hysteresis = hysteresis
            self.samplingInterval = samplingInterval
            self.samplesAfterCollections = samplesAfterCollections
            self.collectsOnWarning = collectsOnWarning
            self.collectionTimeShare = collectionTimeShare
            self.gcHeapBudget = gcHeapBudget
            self.foreignBytes = foreignBytes
            self.foreignLimit = foreignLimit
            self.readsResidentSize = readsResidentSize
            self.residentLimit = residentLimit
            self.cgroup = cgroup
            self.readsResourceLimits = readsResourceLimits
            self.readsMachineMemory = readsMachineMemory
            self.kernelNotices = kernelNotices
        }

        /// Throws if a threshold, limit or duration is out of range, or a
        /// cgroup directory given is missing.
        func validate() throws(GCError) {
            guard warningThreshold > 0, criticalThreshold >= warningThreshold, criticalThreshold.isFinite else {
                throw .invalidArgument(
                    "thresholds need 0 < warning <= critical, got \(warningThreshold) and \(criticalThreshold)")
            }
            guard hysteresis >= 0, hysteresis < warningThreshold else {
                throw .invalidArgument("hysteresis must be in [0, warningThreshold), got \(hysteresis)")
            }
            guard collectionTimeShare > 0, collectionTimeShare <= 1 else {
                throw .invalidArgument("collectionTimeShare must be in (0, 1], got \(collectionTimeShare)")
            }
            if let samplingInterval, samplingInterval <= .zero || samplingInterval > .seconds(86_400) {
                throw .invalidArgument("samplingInterval must be in (0, 24 h], got \(samplingInterval)")
            }
            var gcHeapLimit: Int? = nil
            if case .bytes(let limit) = gcHeapBudget { gcHeapLimit = limit }
            try GCError.checkPositive(
                ["foreignLimit": foreignLimit, "residentLimit": residentLimit, "gcHeapBudget": gcHeapLimit])
            let notices = kernelNotices
            guard notices.stallWindow >= .milliseconds(500) && notices.stallWindow <= .seconds(10) else {
                throw .invalidArgument("stallWindow must be in [500 ms, 10 s], got \(notices.stallWindow)")
            }
            if let threshold = notices.stallThreshold, threshold <= .zero || threshold > notices.stallWindow {
                throw .invalidArgument(
                    "stallThreshold must be in (0, stallWindow], got \(threshold) for a \(notices.stallWindow) window")
            }
            guard notices.hold >= .zero && notices.hold <= .seconds(3600) else {
                throw .invalidArgument("hold must be in [0, 1 h], got \(notices.hold)")
            }
            try cgroup.validate()
        }

        /// The level after `current` for a sample of `utilization`: up at
        /// once, down only past the hysteresis band.
        func nextLevel(after current: MemoryPressureLevel, utilization: Double) -> MemoryPressureLevel {
            let raw: MemoryPressureLevel =
                utilization >= criticalThreshold ? .critical : utilization >= warningThreshold ? .warning : .normal
            if raw >= current { return raw }
            if current == .critical && utilization >= criticalThreshold - hysteresis { return .critical }
            if utilization >= warningThreshold - hysteresis { return .warning }
            return .normal
        }
    }
}
