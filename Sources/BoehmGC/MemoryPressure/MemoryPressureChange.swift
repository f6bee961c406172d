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
