import BenchmarkDriverSupport
import BenchmarkSupport

/// What a child (Swift or Guile) reported, and the figures derived from it.
struct RunResult {
    /// `both`, `closed`, ..., or `guile-string-dropped` etc.
    var config: String
    var ballastMB: Int
    /// The trigger policy of a policy-table run, `nil` otherwise.
    var policy: String?
    var isPeer: Bool
    var output = ChildOutput()

    var samples: [Sample] { output.samples }
    var fields: [String: String] { output.fields }
    var error: String? { output.error }

    /// A label for tables, the CSV and the plot.
    var label: String { policy.map { "\(config)[\($0)]" } ?? config }

    func integer(_ key: String) -> Int? { fields[key].flatMap { Int($0) } }
    var ports: Int { integer("ports") ?? samples.last?.ports ?? 0 }
    var seconds: Double { fields["seconds"].flatMap { Double($0) } ?? samples.last?.seconds ?? 0 }
    var portsPerSecond: Double { seconds > 0 ? Double(ports) / seconds : 0 }
    var peakRSS: Int { integer("peak_rss") ?? samples.map(\.rssBytes).max() ?? 0 }
    var endRSS: Int { samples.last?.rssBytes ?? 0 }

    /// RSS at 10% of the run's ports: the first sample at or past it.
    var rssAt10Percent: Int {
        let mark = Double(ports) * 0.1
        return samples.first { Double($0.ports) >= mark && $0.ports > 0 }?.rssBytes ?? endRSS
    }

    /// Least-squares slope of RSS against ports from 10% of the run to its
    /// end, in bytes per 100,000 ports (the first 10% is warm-up: heap growth
    /// to its working size).
    var rssSlopePer100k: Double {
        let mark = Double(ports) * 0.1
        let points = samples.filter { Double($0.ports) >= mark }
        guard points.count >= 3 else { return 0 }
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + Double($1.ports) } / n
        let meanY = points.reduce(0) { $0 + Double($1.rssBytes) } / n
        var sxy = 0.0
        var sxx = 0.0
        for point in points {
            let dx = Double(point.ports) - meanX
            sxy += dx * (Double(point.rssBytes) - meanY)
            sxx += dx * dx
        }
        return sxx > 0 ? sxy / sxx * 100_000 : 0
    }
}

extension RunResult {
    func number(_ key: String) -> Double? { fields[key].flatMap { Double($0) } }

    /// RSS at `seconds` into the run: the first sample at or past it.
    func rss(atSeconds seconds: Double) -> Int {
        samples.first { $0.seconds >= seconds }?.rssBytes ?? endRSS
    }

    /// Ports per second between `start` and `end` seconds into the run,
    /// from the samples nearest inside that window; nil without two such
    /// samples.
    func portsPerSecond(from start: Double, to end: Double) -> Double? {
        guard let first = samples.first(where: { $0.seconds >= start }),
            let last = samples.last(where: { $0.seconds <= end }), last.seconds > first.seconds
        else { return nil }
        return Double(last.ports - first.ports) / (last.seconds - first.seconds)
    }

    /// The long soak's figures (see `port-churn --long`): the RSS at a
    /// tenth of the run (6 minutes of an hour) and at its end, and the ports
    /// per second of its first and last sixth (10 minutes of an hour each).
    var longSoak: (mark: Double, rssAtMark: Int, endRSS: Int, window: Double, first: Double?, last: Double?) {
        let mark = seconds / 10
        let window = seconds / 6
        return (
            mark, rss(atSeconds: mark), endRSS, window, portsPerSecond(from: 0, to: window),
            portsPerSecond(from: seconds - window, to: seconds)
        )
    }

    /// Collections during the churn.
    var collections: Int { integer("gc_count") ?? 0 }

    /// Whether the run closes its ports by hand (`closed`, `closed-raw`,
    /// Guile's `closed`): it drops none.
    var closesPorts: Bool { config.hasSuffix("closed") || config == "closed-raw" }

    /// The mean pause of the run's collections, in seconds (Swift runs
    /// with at least one collection).
    var meanPauseSeconds: Double? { number("pause_ms_mean").map { $0 / 1000 } }

    /// Foreign bytes a port reported after its write, before it was dropped.
    var bytesPerPort: Double? { number("bytes_per_port") }

    /// The accounting's byte budget between collections (runs whose
    /// trigger has a byte rule).
    var byteBudget: Int? { integer("byte_budget") }

    /// The open-ports table's vacuum time per dead entry it removed, in
    /// nanoseconds: the table's own work (finding and removing the entry),
    /// not the release of the port it hands on. Runs whose table vacuumed:
    /// a lazy table removes dead entries as inserts probe them, untimed.
    var vacuumNanosecondsPerDeadEntry: Double? {
        guard let nanoseconds = number("vacuum_ns"), nanoseconds > 0, let entries = integer("entries_vacuumed"),
            entries > 0
        else {
            return nil
        }
        return nanoseconds / Double(entries)
    }

    /// Nanoseconds per port of the whole release measured at the end of the
    /// run: the vacuum of the ports dropped since the last collection and
    /// each port's release (runs that dropped ports).
    var releaseNanosecondsPerDeadPort: Double? {
        guard let nanoseconds = number("release_ns"), let ports = integer("released"), ports > 0 else { return nil }
        return nanoseconds / Double(ports)
    }
}
