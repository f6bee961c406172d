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

    /// Whether `lhs` is a lower level than `rhs`.
    ///
    /// - Parameters:
    ///   - lhs: A level.
    ///   - rhs: Another level.
    /// - Returns: Whether `lhs` comes before `rhs` in
    ///   `normal < warning < critical`.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The level's name: `normal`, `warning` or `critical`.
    public var description: String {
        switch self {
        case .normal: "normal"
        case .warning: "warning"
        case .critical: "critical"
        }
    }
}
