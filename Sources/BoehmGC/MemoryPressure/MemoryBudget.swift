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
    /// The cgroup v2 `memory.current` against `memory.max`.
    case cgroup

    /// The case's name (`gcHeap`, `foreign`, `resident`, `cgroup`).
    public var description: String { rawValue }
}
