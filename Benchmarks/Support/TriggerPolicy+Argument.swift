import BoehmGC

extension ForeignMemory.TriggerPolicy {
    /// Parses the spelling the benchmarks take on their command line
    /// (port-churn's `--policy`, foreign-bench's triggers).
    ///
    /// - `bytes` (the defaults), `bytes:FLOOR` or `bytes:FLOOR:FRACTION`;
    ///   sizes take a `k`, `m` or `g` suffix (binary units)
    /// - `count:N`
    /// - `interval:T` with `T` in `ns`, `us`, `ms` or `s` (e.g. `interval:10ms`)
    /// - `either:P,P,...`, e.g. `either:count:1000,interval:10ms`
    /// - `never` (or `off`)
    ///
    /// Returns nil for anything else.
    public init?(argument: String) {
        let text = argument.lowercased()
        if text.hasPrefix("either:") {
            var policies: [Self] = []
            for part in text.dropFirst("either:".count).split(separator: ",") {
                guard !part.hasPrefix("either"), let policy = Self(argument: String(part)) else { return nil }
                policies.append(policy)
            }
            guard !policies.isEmpty else { return nil }
            self = .either(policies)
            return
        }
        let fields = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch (fields[0], fields.count) {
        case ("never", 1), ("off", 1):
            self = .never
        case ("bytes", ...3):
            guard let floor = fields.count > 1 ? parseSize(fields[1]) : Self.defaultFloor,
                let fraction = fields.count > 2 ? Double(fields[2]) : Self.defaultHeapFraction,
                fraction >= 0, fraction.isFinite
            else { return nil }
            self = .bytes(floor: floor, heapFraction: fraction)
        case ("count", 2):
            guard let count = Int(fields[1]), count > 0 else { return nil }
            self = .objectCount(count)
        case ("interval", 2):
            guard let duration = parseDuration(fields[1]) else { return nil }
            self = .interval(duration)
        default:
            return nil
        }
    }

    /// The spelling ``init(argument:)`` reads back.
    public var argument: String {
        switch self {
        case .bytes(let floor, let fraction): return "bytes:\(floor):\(fraction)"
        case .objectCount(let count): return "count:\(count)"
        case .interval(let duration):
            let (seconds, attoseconds) = duration.components
            return "interval:\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)ns"
        case .either(let policies): return "either:" + policies.map(\.argument).joined(separator: ",")
        case .never: return "never"
        }
    }
}

/// Bytes of `text`: digits, then `k`, `m` or `g` (binary units) or nothing.
private func parseSize(_ text: String) -> Int? {
    let scales: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
    let scale = text.last.flatMap { scales[$0] }
    guard let value = Int(scale == nil ? Substring(text) : text.dropLast()), value >= 0 else { return nil }
    let (product, overflow) = value.multipliedReportingOverflow(by: scale ?? 1)
    return overflow ? nil : product
}

/// A positive duration: a number, then `ns`, `us`, `ms` or `s`.
private func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        guard let value = Double(text.dropLast(suffix.count)), value > 0, value.isFinite else { return nil }
        return .nanoseconds(Int64(value * scale * 1e9))
    }
    return nil
}
