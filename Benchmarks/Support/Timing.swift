#if canImport(Glibc)
    import Glibc
#endif

/// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`, a vDSO read: no
/// system call), from an arbitrary start. The one clock of the benchmarks.
@inlinable @inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Seconds on the monotonic clock, from an arbitrary start.
public func monotonicSeconds() -> Double {
    Double(monotonicNanoseconds()) / 1e9
}

/// Nanoseconds `body` took: two clock reads around it.
@inlinable @inline(__always)
public func elapsedNanoseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = monotonicNanoseconds()
    try body()
    return Double(monotonicNanoseconds() - start)
}

/// Nanoseconds per call of `body`, timed as one batch of `count` calls.
///
/// An empty clock read pair costs ~30 ns here, so an operation that costs
/// under a microsecond is timed this way, never call by call: the clock's
/// cost is spread over the batch. Inlinable, like the clock: the loop and
/// `body` are compiled into the caller, so a call costs no closure call that
/// a hand-written loop would not.
@inlinable @inline(__always)
public func nanosecondsPerCall(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
    try elapsedNanoseconds {
        for _ in 0..<count { try body() }
    } / Double(max(count, 1))
}

/// The least of `runs` measurements: on a shared machine the least
/// disturbed one.
@inlinable
public func best(_ runs: Int = 3, _ measure: () throws -> Double) rethrows -> Double {
    var result = Double.infinity
    for _ in 0..<runs { result = min(result, try measure()) }
    return result
}

/// The median of `values` (the upper one of an even count); 0 when empty.
public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    return values.sorted()[values.count / 2]
}

extension Duration {
    /// The duration in nanoseconds.
    public var nanoseconds: Double {
        Double(components.seconds) * 1e9 + Double(components.attoseconds) / 1e9
    }

    /// The duration in milliseconds.
    public var milliseconds: Double { nanoseconds / 1e6 }
}
