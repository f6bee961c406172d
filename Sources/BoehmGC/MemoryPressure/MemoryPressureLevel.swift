import Synchronization

/// How close the process is to one of its memory budgets.
///
/// Levels are ordered: `normal < warning < critical`. A server checks
/// ``MemoryPressureMonitor/level`` before accepting work and refuses new work
/// at `warning` or above.
public enum MemoryPressureLevel: UInt8, Sendable, Comparable, CaseIterable, AtomicRepresentable,
    CustomStringConvertible
{
    /// Every budget is below its warning threshold.
    case normal = 0
    /// Some budget passed its warning threshold: stop taking optional work.
    case warning = 1
    /// Some budget passed its critical threshold: refuse new work, shed what
    /// can be shed.
    case critical = 2

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .normal: "normal"
        case .warning: "warning"
        case .critical: "critical"
        }
    }
}

/// What a level-change callback is told.
public struct MemoryPressureChange: Sendable {
    /// The level before the change.
    public var previous: MemoryPressureLevel
    /// The level now (also ``MemoryPressureMonitor/level`` when the callback
    /// runs, unless a later sample changed it again).
    public var current: MemoryPressureLevel
    /// The sample that caused the change.
    public var sample: MemoryPressureSample
}
