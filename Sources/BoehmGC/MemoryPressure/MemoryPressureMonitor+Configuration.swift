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

    /// Where the cgroup v2 memory figures come from.
    public enum CgroupSource: Sendable, Equatable {
        /// The process's own cgroup, found through `/proc/self/cgroup` and
        /// `/proc/self/mountinfo` when the monitor starts. No cgroup v2, or a
        /// cgroup without `memory.max` (the root one), is normal: then this
        /// budget takes no part.
        case automatic
        /// A directory holding `memory.max` and `memory.current`.
        case directory(String)
        /// Do not read cgroup files.
        case none
    }

    /// How the monitor measures and judges memory.
    ///
    /// Each budget with a limit gives a ratio, used bytes over limit; the
    /// largest ratio is the process's utilisation. The level rises as soon as
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
        /// Where the cgroup figures come from.
        public var cgroup: CgroupSource

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
        ///     (false by default).
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
        ///   - cgroup: Where the cgroup figures come from (found on its own
        ///     by default).
        public init(
            warningThreshold: Double = 0.75,
            criticalThreshold: Double = 0.90,
            hysteresis: Double = 0.05,
            samplingInterval: Duration? = .milliseconds(100),
            samplesAfterCollections: Bool = true,
            collectsOnWarning: Bool = false,
            collectionTimeShare: Double = 0.05,
            gcHeapBudget: HeapBudget = .collectorLimit,
            foreignBytes: (@Sendable () -> Int)? = nil,
            foreignLimit: Int? = nil,
            readsResidentSize: Bool = true,
            residentLimit: Int? = nil,
            cgroup: CgroupSource = .automatic
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
        }

        /// Throws if a threshold or limit is out of range.
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
