/// The memory budgets a ``MemoryPressureMonitor`` watches.
///
/// Each budget compares a figure in bytes with a limit in bytes; the one with
/// the largest ratio sets the level (``MemoryPressureSample/dominantBudget``).
public enum MemoryBudget: String, Sendable, CaseIterable, CustomStringConvertible {
    /// GC heap in use against the heap limit.
    case gcHeap
    /// Live foreign (non-GC) bytes against the foreign budget.
    case foreign
    /// Resident set size against the resident budget.
    case resident
    /// The tightest cgroup limit on the path up from the process's own
    /// group (v2 `memory.max` or `memory.high`, v1 `memory.limit_in_bytes`
    /// or `memory.soft_limit_in_bytes`) against that group's usage
    /// (``MemoryPressureSample/cgroupLimit``).
    case cgroup
    /// `RLIMIT_AS` or `RLIMIT_DATA` against the process's virtual or data
    /// size (``MemoryPressureSample/resourceLimit``).
    case resourceLimit
    /// The machine's memory, when no cgroup or resource limit is below it
    /// (``MemoryPressureSample/machineLimit``).
    case machine

    /// The case's name (`gcHeap`, `foreign`, `resident`, `cgroup`,
    /// `resourceLimit`, `machine`).
    public var description: String { rawValue }
}
