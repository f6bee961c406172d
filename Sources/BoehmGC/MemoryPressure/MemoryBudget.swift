/// The memory budgets a ``MemoryPressureMonitor`` watches.
public enum MemoryBudget: String, Sendable, CaseIterable, CustomStringConvertible {
    /// GC heap in use against the heap limit.
    case gcHeap
    /// Live foreign (non-GC) bytes against the foreign budget.
    case foreign
    /// Resident set size against the resident budget.
    case resident
    /// The cgroup v2 `memory.current` against `memory.max`.
    case cgroup

    public var description: String { rawValue }
}
