/// One reading of the process's memory, and what it means for the level.
///
/// A figure the monitor could not read, or was not asked to, is nil; a limit
/// that is not set is nil (then its budget takes no part in the level).
public struct MemoryPressureSample: Sendable, Equatable {
    /// Bytes of GC heap mapped (libgc's heap size, unmapped pages excluded).
    public var gcHeapBytes: Int
    /// Bytes of GC heap in use: live objects and garbage not yet collected.
    ///
    /// Right after a collection it is close to the live data; it rises
    /// between collections. It is the GC heap budget's figure.
    public var gcInUseBytes: Int
    /// The GC heap limit in bytes this sample was judged against.
    public var gcHeapLimit: Int?
    /// Live foreign bytes, from the configured source.
    public var foreignBytes: Int?
    /// The foreign budget in bytes.
    public var foreignLimit: Int?
    /// Resident set size of the process in bytes (`/proc/self/statm`).
    public var residentBytes: Int?
    /// The resident budget in bytes.
    public var residentLimit: Int?
    /// The tightest cgroup limit (v2 or v1) on the path up from the
    /// process's own group, with its group's usage; nil when no group has a
    /// limit or cgroups are not read.
    public var cgroupLimit: MemoryLimit?
    /// The tighter of `RLIMIT_AS` and `RLIMIT_DATA`, when either is set.
    public var resourceLimit: MemoryLimit?
    /// The machine's memory, when no cgroup or resource limit is below it.
    public var machineLimit: MemoryLimit?
    /// Collections completed when the sample was taken.
    public var collections: UInt64
    /// The largest used-to-limit ratio over the budgets that have a limit
    /// (0 when none has; 1.0 means a budget is used up).
    public var utilization: Double
    /// The budget with that ratio, or nil when no budget has a limit.
    public var dominantBudget: MemoryBudget?
    /// The kernel notice this sample was taken for, or nil for a sample
    /// taken on time, after a collection or on demand.
    public var notice: MemoryPressureNotice?
    /// When the sample was taken.
    public var time: ContinuousClock.Instant
    /// How long taking the sample took (reading every source).
    public var cost: Duration

    /// The tightest of the limits the system sets (``cgroupLimit``,
    /// ``resourceLimit``, ``machineLimit``): which one dominates, and where
    /// it was read (``MemoryLimit/source``).
    public var systemLimit: MemoryLimit? {
        [cgroupLimit, resourceLimit, machineLimit].compactMap { $0 }.max { $0.utilization < $1.utilization }
    }

    /// The usage of the group with the tightest cgroup limit (its
    /// `memory.current` or `memory.usage_in_bytes`), in bytes.
    public var cgroupCurrentBytes: Int? { cgroupLimit?.usageBytes }

    /// The tightest cgroup limit, in bytes; nil when no group on the path
    /// has one (`max`, v1's "unlimited") or cgroups are not read.
    public var cgroupLimitBytes: Int? { cgroupLimit?.limitBytes }

    /// The used-to-limit ratio of one budget.
    ///
    /// - Parameter budget: The budget.
    /// - Returns: Used bytes over limit bytes (1.0 when the budget is used
    ///   up), or nil if the budget has no limit or no reading.
    public func utilization(of budget: MemoryBudget) -> Double? {
        func ratio(_ used: Int?, _ limit: Int?) -> Double? {
            guard let used, let limit, limit > 0 else { return nil }
            return Double(used) / Double(limit)
        }
        switch budget {
        case .gcHeap: return ratio(gcInUseBytes, gcHeapLimit)
        case .foreign: return ratio(foreignBytes, foreignLimit)
        case .resident: return ratio(residentBytes, residentLimit)
        case .cgroup: return cgroupLimit?.utilization
        case .resourceLimit: return resourceLimit?.utilization
        case .machine: return machineLimit?.utilization
        }
    }

    /// Sets ``utilization`` and ``dominantBudget`` from the readings.
    mutating func computeUtilization() {
        utilization = 0
        dominantBudget = nil
        for budget in MemoryBudget.allCases {
            if let ratio = utilization(of: budget), dominantBudget == nil || ratio > utilization {
                utilization = ratio
                dominantBudget = budget
            }
        }
    }
}
