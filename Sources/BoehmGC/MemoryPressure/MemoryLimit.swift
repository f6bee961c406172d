/// A memory limit the system sets on the process, with the figure it is
/// judged against.
///
/// The ``MemoryPressureMonitor`` finds these on its own: cgroup limits on the
/// path up from the process's own group, `RLIMIT_AS` and `RLIMIT_DATA`, and
/// the machine's memory as the last resort (see ``MemoryLimitSource`` and
/// <doc:MemoryPressure>). All figures are in bytes.
public struct MemoryLimit: Sendable, Equatable, CustomStringConvertible {
    /// What sets the limit and where it was read.
    public var source: MemoryLimitSource
    /// The limit, in bytes.
    public var limitBytes: Int
    /// The kernel's figure for what counts against the limit, in bytes: the
    /// group's `memory.current` or `memory.usage_in_bytes`, the process's
    /// virtual or data size, or `MemTotal - MemAvailable`.
    public var usageBytes: Int
    /// Inactive file cache of the group, in bytes.
    ///
    /// It is `inactive_file` of a v2 `memory.stat`, `total_inactive_file`
    /// of v1's (hierarchical, as v1's usage is): page cache the kernel
    /// reclaims before it runs the OOM killer, so it is not counted as used,
    /// as the kubelet's working set and .NET's GC do not count it. 0 for a
    /// limit that is no cgroup's.
    public var inactiveFileBytes: Int
    /// Free bytes of the GC heap already inside ``usageBytes``, in bytes:
    /// the collector reuses them without asking the kernel for memory, so
    /// they are not counted as used.
    ///
    /// For a cgroup or the machine it is libgc's free bytes, at most the
    /// resident set size minus the GC heap in use (free pages never touched
    /// are not resident, so they are not in the usage) and at most the
    /// usage minus the GC heap in use (the heap in use stays counted as
    /// used); for `RLIMIT_AS` and `RLIMIT_DATA` it is all of libgc's free
    /// bytes.
    public var freeGCHeapBytes: Int

    /// What is counted as used: ``usageBytes`` less ``inactiveFileBytes``
    /// and ``freeGCHeapBytes``, at least 0.
    public var usedBytes: Int { max(0, usageBytes - inactiveFileBytes - freeGCHeapBytes) }

    /// ``usedBytes`` over ``limitBytes`` (1.0 when the limit is reached).
    public var utilization: Double { Double(usedBytes) / Double(limitBytes) }

    /// The source, the used bytes against the limit, and the usage the used
    /// bytes come from.
    public var description: String {
        "\(source): \(usedBytes) of \(limitBytes) bytes used (usage \(usageBytes), inactive file "
            + "\(inactiveFileBytes), free GC heap \(freeGCHeapBytes))"
    }
}

/// Where a ``MemoryLimit`` comes from.
///
/// The monitor reads them in this order, and the tightest (the largest used
/// share) dominates.
public enum MemoryLimitSource: Sendable, Hashable, CustomStringConvertible {
    /// A cgroup v2 group's `memory.max`: past it the kernel reclaims, then
    /// runs the OOM killer.
    case cgroupV2Max(directory: String)
    /// A cgroup v2 group's `memory.high`: past it the kernel throttles the
    /// group and reclaims hard.
    case cgroupV2High(directory: String)
    /// A cgroup v1 memory group's `memory.limit_in_bytes`: past it the kernel
    /// reclaims, then runs the OOM killer.
    case cgroupV1Limit(directory: String)
    /// A cgroup v1 memory group's `memory.soft_limit_in_bytes`: when the
    /// machine runs short, groups past their soft limit are reclaimed first.
    case cgroupV1SoftLimit(directory: String)
    /// `RLIMIT_AS`, against the process's virtual size (`/proc/self/statm`):
    /// past it `mmap` fails.
    case addressSpace
    /// `RLIMIT_DATA`, against the process's data size (private writable
    /// mappings and stack, `/proc/self/statm`): past it `mmap` fails.
    case dataSegment
    /// The machine's memory (`MemTotal` of `/proc/meminfo`), against
    /// `MemTotal - MemAvailable`: only when no limit above is below it.
    case machine

    /// Whether the kernel's OOM killer acts at this limit (a cgroup's
    /// `memory.max` or `memory.limit_in_bytes`, or the machine's memory).
    public var isHardLimit: Bool {
        switch self {
        case .cgroupV2Max, .cgroupV1Limit, .machine: true
        case .cgroupV2High, .cgroupV1SoftLimit, .addressSpace, .dataSegment: false
        }
    }

    /// The file or resource limit read, for example
    /// `/sys/fs/cgroup/memory/app/memory.limit_in_bytes` or `RLIMIT_AS`.
    public var description: String {
        switch self {
        case .cgroupV2Max(let directory): directory + "/memory.max"
        case .cgroupV2High(let directory): directory + "/memory.high"
        case .cgroupV1Limit(let directory): directory + "/memory.limit_in_bytes"
        case .cgroupV1SoftLimit(let directory): directory + "/memory.soft_limit_in_bytes"
        case .addressSpace: "RLIMIT_AS"
        case .dataSegment: "RLIMIT_DATA"
        case .machine: "/proc/meminfo MemTotal"
        }
    }
}
