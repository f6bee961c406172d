extension ForeignMemory {
    /// When foreign allocation asks for a collection.
    ///
    /// The policies follow the Erlang active-object thesis, which compared
    /// collecting never, always, on a count of new objects, on time, and on
    /// either.
    ///
    /// Every counter a policy reads is "since the last collection": it starts
    /// again from zero after every collection, whatever ran it, because the
    /// accounting compares the collection epoch (``GC/collectionCount``) on
    /// each report.
    ///
    /// Ranges: a byte floor in `0...2^47` bytes, a heap fraction finite and
    /// in `0...1000`, an object count in `1...Int.max`, an interval longer
    /// than zero and at most 365 days, an `either` of 1 to 16 policies nested
    /// at most 4 deep; ``ForeignMemory/configure(_:)`` throws
    /// ``GCError/invalidArgument(_:)`` for anything else.
    ///
    /// The policy for a process is chosen once, with
    /// ``ForeignMemory/configure(_:)``.
    public enum TriggerPolicy: Sendable, Equatable {
        /// Collect when foreign bytes reported since the last collection pass
        /// `max(floor, heapFraction × GC heap size)` (the default).
        ///
        /// `floor` is in bytes (8 MiB by default); `heapFraction` multiplies
        /// the GC heap size in bytes (0.6 by default).
        ///
        /// The floor keeps a small heap from collecting on every handle (an
        /// iconv handle is ~33 kB of malloc); the heap term keeps a big heap
        /// from collecting much more often than its own allocation would
        /// make it (with libgc's default free-space divisor of 3 a
        /// collection follows roughly every heap/3 bytes of GC allocation).
        case bytes(floor: Int = TriggerPolicy.defaultFloor, heapFraction: Double = TriggerPolicy.defaultHeapFraction)
        /// Collect when this many foreign objects were reported since the
        /// last collection, whatever their size.
        case objectCount(Int)
        /// Collect at most once per interval.
        ///
        /// A collection is due when foreign objects were reported and the
        /// interval has passed since the last collection the accounting saw
        /// (or requested).
        case interval(Duration)
        /// Collect when any of the policies would.
        indirect case either([TriggerPolicy])
        /// Never collect because of foreign memory.
        ///
        /// Bytes and objects are still counted for
        /// ``ForeignMemory/statistics``. This is "accounting off".
        case never

        /// The default byte floor, 8 MiB.
        ///
        /// That is ~250 iconv handles between collections on a small heap,
        /// where a collection costs well under a millisecond.
        public static let defaultFloor = 8 << 20
        /// The default heap fraction, 0.6.
        ///
        /// Chosen on the port-churn soak (dropped iconv ports, 20 s runs
        /// beside 64 MB and 1 GB of live heap): the fastest of 1/3, 0.6 and
        /// 1.0 whose peak RSS stays within 1.25x that of closing every
        /// port. At 64 MB it ran 1.6x as fast as a third (libgc's own pace)
        /// at 1.05x closed's peak; 1.0 was no faster and passed 1.25x.
        public static let defaultHeapFraction = 0.6
        /// The default policy: `.bytes()`.
        public static var `default`: TriggerPolicy { .bytes() }

        /// Throws ``GCError/invalidArgument(_:)`` unless every part is in
        /// range.
        internal func validate(depth: Int = 0) throws(GCError) {
            switch self {
            case .bytes(let floor, let fraction):
                guard (0...(1 << 47)).contains(floor) else {
                    throw .invalidArgument("the byte floor must be in 0...2^47, got \(floor)")
                }
                guard fraction.isFinite, (0...1000).contains(fraction) else {
                    throw .invalidArgument("the heap fraction must be finite and in 0...1000, got \(fraction)")
                }
            case .objectCount(let n):
                guard n > 0 else { throw .invalidArgument("the object count must be positive, got \(n)") }
            case .interval(let duration):
                guard duration > .zero, duration <= .seconds(365 * 86_400) else {
                    throw .invalidArgument("the interval must be in (0, 365 days], got \(duration)")
                }
            case .either(let policies):
                guard depth < 4, (1...16).contains(policies.count) else {
                    throw .invalidArgument("either needs 1 to 16 policies, nested at most 4 deep")
                }
                for policy in policies { try policy.validate(depth: depth + 1) }
            case .never:
                break
            }
        }

        /// The policy flattened into the thresholds the hot path checks.
        internal var thresholds: Thresholds {
            var result = Thresholds()
            collect(into: &result)
            return result
        }

        private func collect(into result: inout Thresholds) {
            switch self {
            case .bytes(let floor, let fraction):
                // With several byte rules, the one that fires first wins.
                if let old = result.byteFloor {
                    result.byteFloor = min(old, floor)
                    result.heapFraction = min(result.heapFraction ?? fraction, fraction)
                } else {
                    result.byteFloor = max(0, floor)
                    result.heapFraction = max(0, fraction)
                }
            case .objectCount(let n):
                result.objectLimit = min(result.objectLimit ?? Int.max, max(1, n))
            case .interval(let duration):
                let c = duration.components
                let ns = max(0, c.seconds) &* 1_000_000_000 &+ max(0, c.attoseconds / 1_000_000_000)
                result.intervalNanoseconds = min(result.intervalNanoseconds ?? UInt64.max, UInt64(ns))
            case .either(let policies):
                for policy in policies { policy.collect(into: &result) }
            case .never:
                break
            }
        }
    }

    /// What the accounting checks on each report; nil disables a rule.
    internal struct Thresholds: Sendable, Equatable {
        var byteFloor: Int?
        var heapFraction: Double?
        var objectLimit: Int?
        var intervalNanoseconds: UInt64?

        var isEmpty: Bool { byteFloor == nil && objectLimit == nil && intervalNanoseconds == nil }

        /// The byte budget for a heap of `heapSize` bytes.
        func byteBudget(heapSize: Int) -> Int? {
            guard let floor = byteFloor else { return nil }
            let proportional = Int(Double(heapSize) * (heapFraction ?? 0))
            return max(floor, proportional)
        }
    }
}
