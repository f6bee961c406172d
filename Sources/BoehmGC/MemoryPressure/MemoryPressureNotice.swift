/// A notice of memory pressure from the kernel, which a
/// ``MemoryPressureMonitor`` acts on at once instead of at its next sample.
///
/// See ``MemoryPressureMonitor/KernelNotices`` for what the monitor
/// listens to.
public struct MemoryPressureNotice: Sendable, Equatable, CustomStringConvertible {
    /// What the kernel reported.
    public enum Kind: Sendable, Equatable, CustomStringConvertible {
        /// A pressure stall (PSI) trigger fired: some task (`full: false`) or
        /// every non-idle task (`full: true`) waited for memory for at least
        /// the trigger's threshold within its window.
        case stall(full: Bool)
        /// cgroup v2 `memory.events`: `high` rose (the group went past
        /// `memory.high` and is throttled).
        case cgroupHigh
        /// cgroup v2 `memory.events`: `max` rose (the group reached
        /// `memory.max` and reclaims).
        case cgroupMax
        /// cgroup v2 `memory.events`: `oom` or `oom_kill` rose.
        case cgroupOutOfMemory
        /// cgroup v1 `memory.pressure_level` (vmpressure): the group reclaims
        /// (`low`), reclaims at a cost (`medium`) or is about to run out
        /// (`critical`).
        case reclaim(level: ReclaimLevel)

        /// The kernel's words, for example `psi some` or `memory.events max`.
        public var description: String {
            switch self {
            case .stall(let full): full ? "psi full" : "psi some"
            case .cgroupHigh: "memory.events high"
            case .cgroupMax: "memory.events max"
            case .cgroupOutOfMemory: "memory.events oom"
            case .reclaim(let level): "memory.pressure_level \(level)"
            }
        }
    }

    /// The levels of cgroup v1's `memory.pressure_level`.
    public enum ReclaimLevel: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
        /// The group reclaims memory (normal for a group full of page cache).
        case low
        /// Reclaim is costly: the group's working set is being reclaimed.
        case medium
        /// Reclaim barely succeeds: the OOM killer is near.
        case critical

        /// The kernel's word (`low`, `medium`, `critical`).
        public var description: String { rawValue }
    }

    /// What the kernel reported.
    public var kind: Kind
    /// The file the notice came from (`/proc/pressure/memory`, a group's
    /// `memory.pressure`, `memory.events` or `memory.pressure_level`).
    public var path: String
    /// The level the notice holds the monitor at, for
    /// ``MemoryPressureMonitor/KernelNotices/hold`` (at least the stall
    /// window for a stall): warning for a `some` stall, `memory.events`
    /// `high` and v1 `medium`; critical for a `full` stall, `max`, `oom` and
    /// v1 `critical`; normal (the monitor only samples at once) for v1
    /// `low`.
    public var level: MemoryPressureLevel
    /// When the monitor's thread woke for it.
    public var time: ContinuousClock.Instant

    /// The kind and the file.
    public var description: String { "\(kind) (\(path))" }
}
