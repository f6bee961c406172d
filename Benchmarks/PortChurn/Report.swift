import BenchmarkDriverSupport
import BenchmarkSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One goal of the soak, checked on the figures of this run.
struct Goal: Encodable {
    var name: String
    var ballastMB: Int
    /// `nil` (JSON `null`) when not finite.
    @JSONNullable var value: Double?
    var limit: Double
    /// `true` when the goal asks for `value >= limit`, `false` for `value <= limit`.
    var atLeast: Bool
    var met: Bool

    init(name: String, ballastMB: Int, value: Double, limit: Double, atLeast: Bool) {
        (self.name, self.ballastMB, self.value, self.limit, self.atLeast) =
            (name, ballastMB, number(value), limit, atLeast)
        met = atLeast ? value >= limit : value <= limit
    }
}

/// `value` rounded to 3 decimals for the JSON summary; `nil` (null) when
/// it is not finite.
private func number(_ value: Double) -> Double? { value.isFinite ? decimals(value, 3) : nil }

/// Tables, goals, JSON, CSV and the plot.
struct Report {
    var results: [RunResult]
    var ballasts: [Int]
    /// The converter policy of the Swift runs: `pooled` or `per-port`.
    var converters = "pooled"
    /// How the Swift runs collected: `full` or `generational`.
    var collections = "full"
    /// The Swift runs' malloc: `glibc` or `jemalloc` (preloaded).
    var malloc = "glibc"

    private func mb(_ bytes: Int) -> String { fixed(Double(bytes) / 1_048_576, 1) }

    func result(_ config: String, _ ballastMB: Int, policy: String? = nil) -> RunResult? {
        results.first { $0.config == config && $0.ballastMB == ballastMB && $0.policy == policy && $0.error == nil }
    }

    // MARK: Summary table

    func summaryTable() -> String {
        var lines: [String] = []
        let width = max(24, results.map(\.label.count).max() ?? 0)
        let header = [
            pad("config", width, left: true), pad("ballast", 7), pad("ports/s", 10), pad("x closed", 8),
            pad("peak MB", 8), pad("x closed", 8), pad("10% MB", 7), pad("end MB", 7), pad("end/10%", 7),
            pad("MB/100k", 8), pad("GCs", 6), pad("heap MB", 7), pad("table cap/live", 15),
            pad("foreign MB", 10),
        ].joined(separator: " ")
        lines.append(header)
        lines.append(String(repeating: "-", count: header.count))
        for ballast in ballasts {
            let closed = result(ChurnConfig.closed.rawValue, ballast)
            for run in results where run.ballastMB == ballast {
                var row = [pad(run.label, width, left: true), pad("\(run.ballastMB) MB", 7)]
                if let error = run.error {
                    row.append("  failed: \(error)")
                    lines.append(row.joined(separator: " "))
                    continue
                }
                let speedRatio = closed.map { run.portsPerSecond / max($0.portsPerSecond, 1e-9) }
                let peakRatio = closed.map { Double(run.peakRSS) / Double(max($0.peakRSS, 1)) }
                let table =
                    run.isPeer
                    ? "-" : "\(run.integer("table_capacity") ?? 0)/\(run.integer("table_live") ?? 0)"
                let foreign = run.isPeer ? "-" : mb(run.integer("foreign_live") ?? 0)
                row += [
                    pad(fixed(run.portsPerSecond, 0), 10), pad(speedRatio.map { fixed($0, 2) } ?? "-", 8),
                    pad(mb(run.peakRSS), 8), pad(peakRatio.map { fixed($0, 2) } ?? "-", 8),
                    pad(mb(run.rssAt10Percent), 7), pad(mb(run.endRSS), 7),
                    pad(fixed(Double(run.endRSS) / Double(max(run.rssAt10Percent, 1)), 2), 7),
                    pad(fixed(run.rssSlopePer100k / 1_048_576, 2), 8),
                    pad(run.fields["gc_count"] ?? "-", 6), pad(mb(run.integer("heap_size") ?? 0), 7),
                    pad(table, 15), pad(foreign, 10),
                ]
                switch run.fields["stopped"] {
                case "rss_limit": row.append("  (stopped at the RSS limit)")
                case "fd_limit": row.append("  (stopped: out of file descriptors)")
                default: break
                }
                lines.append(row.joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Notes on figures that need explaining.
    func notes() -> [String] {
        var notes: [String] = []
        for ballast in ballasts {
            if let closed = result("closed", ballast), let requested = closed.integer("collections_requested"),
                requested > 0
            {
                notes.append(
                    "closed, \(ballast) MB: \(requested) of its \(closed.fields["gc_count"] ?? "?") collections were "
                        + "asked for by the foreign-memory accounting, although every port was closed "
                        + "(bytes added since the last collection count ports already closed)")
            }
            for run in results where run.ballastMB == ballast {
                switch run.fields["stopped"] {
                case "rss_limit": notes.append("\(run.label), \(ballast) MB: stopped at the RSS limit (--max-rss)")
                case "fd_limit":
                    notes.append(
                        "\(run.label), \(ballast) MB: stopped after \(run.ports) ports: out of file descriptors "
                            + "(dropped file ports keep theirs until released)")
                default: break
                }
            }
        }
        return notes
    }

    // MARK: Goals

    /// The soak's goals that apply to this run (ratios within the run).
    ///
    /// Pooled converters (the library's default), full or generational
    /// collections: at every ballast `both` at least 0.8x `closed`'s ports
    /// per second, at most 1.25x its peak RSS (2x under jemalloc), end RSS
    /// at most 1.1x the RSS at 10% of the run; with a live heap, at least
    /// 10x Guile's dropped string ports per second at most 1.0x Guile's
    /// peak. One converter per port: `both` at least 80% of its ceiling;
    /// under jemalloc, at most 2x `closed`'s peak and end RSS at most 1.1x
    /// the RSS at 10%. Both: the vacuum at most 350 ns per dead port,
    /// checked on the open-ports table's own vacuum time per dead entry and
    /// on the whole release (vacuum and each port's release) measured at the
    /// end of the run. The long soak (`long`): end RSS at most 1.05x the RSS
    /// at a tenth of the run, and the last sixth's ports per second at least
    /// 0.95x the first's.
    func goals(long: Bool = false) -> [Goal] {
        var goals: [Goal] = []
        let peakLimit = malloc == "jemalloc" ? 2.0 : 1.25
        for ballast in ballasts {
            guard let both = result("both", ballast) else { continue }
            let closed = result("closed", ballast)
            let flat = Goal(
                name: "both end RSS / RSS at 10%", ballastMB: ballast,
                value: Double(both.endRSS) / Double(max(both.rssAt10Percent, 1)), limit: 1.1, atLeast: false)
            let peak = closed.map { closed in
                Goal(
                    name: "both/closed peak RSS", ballastMB: ballast,
                    value: Double(both.peakRSS) / Double(max(closed.peakRSS, 1)), limit: peakLimit, atLeast: false)
            }
            if converters == "per-port" {
                if let ceiling = ceiling(both) {
                    goals.append(
                        Goal(
                            name: "both measured/ceiling ports per second", ballastMB: ballast,
                            value: both.portsPerSecond / ceiling.portsPerSecond, limit: 0.8, atLeast: true))
                }
                if malloc == "jemalloc" {
                    if let peak { goals.append(peak) }
                    goals.append(flat)
                }
            } else {
                if let closed, let peak {
                    goals.append(
                        Goal(
                            name: "both/closed ports per second", ballastMB: ballast,
                            value: both.portsPerSecond / max(closed.portsPerSecond, 1e-9), limit: 0.8, atLeast: true))
                    goals.append(peak)
                }
                goals.append(flat)
                if ballast > 0, let guile = result("guile-string-dropped", ballast) {
                    goals.append(
                        Goal(
                            name: "both/guile-string-dropped ports per second", ballastMB: ballast,
                            value: both.portsPerSecond / max(guile.portsPerSecond, 1e-9), limit: 10, atLeast: true))
                    goals.append(
                        Goal(
                            name: "both/guile-string-dropped peak RSS", ballastMB: ballast,
                            value: Double(both.peakRSS) / Double(max(guile.peakRSS, 1)), limit: 1, atLeast: false))
                }
            }
            if long {
                let soak = both.longSoak
                goals.append(
                    Goal(
                        name: "long soak: end RSS / RSS at a tenth", ballastMB: ballast,
                        value: Double(soak.endRSS) / Double(max(soak.rssAtMark, 1)), limit: 1.05, atLeast: false))
                if let first = soak.first, let last = soak.last {
                    goals.append(
                        Goal(
                            name: "long soak: ports/s last sixth / first", ballastMB: ballast,
                            value: last / max(first, 1e-9), limit: 0.95, atLeast: true))
                }
            }
            if let vacuum = both.vacuumNanosecondsPerDeadEntry {
                goals.append(
                    Goal(
                        name: "both vacuum ns per dead entry (table)", ballastMB: ballast, value: vacuum,
                        limit: 350, atLeast: false))
            }
            if let release = both.releaseNanosecondsPerDeadPort {
                goals.append(
                    Goal(
                        name: "both vacuum + release ns per dead port", ballastMB: ballast, value: release,
                        limit: 350, atLeast: false))
            }
        }
        return goals
    }

    func goalsTable(long: Bool = false) -> String {
        goals(long: long).map { goal in
            let relation = goal.atLeast ? ">=" : "<="
            return "\(goal.met ? "met   " : "MISSED") \(pad("\(goal.ballastMB) MB", 7)) "
                + "\(pad(goal.name, 44, left: true)) \(pad(goal.value.map { fixed($0, 3) } ?? "n/a", 9)) (goal \(relation) \(fixed(goal.limit, 2)))"
        }.joined(separator: "\n")
    }

    /// Per Swift run: the long soak's figures (see ``RunResult/longSoak``).
    func longSoakTable() -> String {
        let width = max(24, results.map(\.label.count).max() ?? 0)
        let header = [
            pad("config", width, left: true), pad("ballast", 7), pad("minutes", 7), pad("mark min", 8),
            pad("MB at mark", 10), pad("end MB", 7), pad("end/mark", 8), pad("first ports/s", 13),
            pad("last ports/s", 12), pad("last/first", 10),
        ].joined(separator: " ")
        var lines = [header, String(repeating: "-", count: header.count)]
        for run in results where !run.isPeer && run.error == nil {
            let soak = run.longSoak
            let ratio = soak.first.flatMap { first in soak.last.map { $0 / max(first, 1e-9) } }
            lines.append(
                [
                    pad(run.label, width, left: true), pad("\(run.ballastMB) MB", 7),
                    pad(fixed(run.seconds / 60, 1), 7),
                    pad(fixed(soak.mark / 60, 1), 8), pad(mb(soak.rssAtMark), 10), pad(mb(soak.endRSS), 7),
                    pad(fixed(Double(soak.endRSS) / Double(max(soak.rssAtMark, 1)), 3), 8),
                    pad(soak.first.map { fixed($0, 0) } ?? "-", 13), pad(soak.last.map { fixed($0, 0) } ?? "-", 12),
                    pad(ratio.map { fixed($0, 3) } ?? "-", 10),
                ].joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Policy table

    /// The thesis's kind of table: per policy, wall time per port relative
    /// to `closed`, peak RSS and collections. `never` is `eager` (no
    /// accounting), `always` is `gc-every`.
    func policyTable(policies: [String]) -> (table: String, verdict: String)? {
        guard !policies.isEmpty else { return nil }
        var lines = [
            [
                pad("policy", 40, left: true), pad("ballast", 7), pad("time/closed", 11), pad("ports/s", 10),
                pad("peak MB", 8), pad("GCs", 7), pad("by policy", 9),
            ].joined(separator: " ")
        ]
        var verdicts: [String] = []
        for ballast in ballasts {
            guard let closed = result("closed", ballast) else { continue }
            var rows: [(String, RunResult)] = []
            if let never = result("eager", ballast) { rows.append(("never (eager, no accounting)", never)) }
            if let always = result("gc-every", ballast) { rows.append(("always (gc-every)", always)) }
            for policy in policies {
                if let run = result("both", ballast, policy: policy) { rows.append((policy, run)) }
            }
            rows.append(("closed (floor)", closed))
            if let raw = result("closed-raw", ballast) { rows.append(("closed-raw (floor, trigger off)", raw)) }
            for (name, run) in rows {
                let timeRatio = closed.portsPerSecond / max(run.portsPerSecond, 1e-9)
                lines.append(
                    [
                        pad(name, 40, left: true), pad("\(ballast) MB", 7), pad(fixed(timeRatio, 2), 11),
                        pad(fixed(run.portsPerSecond, 0), 10), pad(mb(run.peakRSS), 8),
                        pad(run.fields["gc_count"] ?? "-", 7), pad(run.fields["collections_requested"] ?? "-", 9),
                    ].joined(separator: " "))
            }
            // The winner: fastest policy whose peak stays within 1.25x closed;
            // the fastest and the leanest are named too.
            let runs = policies.compactMap { policy in result("both", ballast, policy: policy) }
            let limit = 1.25 * Double(closed.peakRSS)
            let fastest = runs.max { $0.portsPerSecond < $1.portsPerSecond }
            let leanest = runs.min { $0.peakRSS < $1.peakRSS }
            let best = runs.filter { Double($0.peakRSS) <= limit }.max { $0.portsPerSecond < $1.portsPerSecond }
            verdicts.append(
                "at \(ballast) MB: \(best?.policy ?? "none") is the fastest within 1.25x closed peak RSS "
                    + "(fastest: \(fastest?.policy ?? "-"), leanest: \(leanest?.policy ?? "-"))")
        }
        return (lines.joined(separator: "\n"), verdicts.joined(separator: "\n"))
    }

    // MARK: Files

    /// The JSON summary (keys in snake case: `secondsPerRun` is
    /// `seconds_per_run`); other tools read its keys.
    struct Summary: Encodable {
        var command: String
        @JSONNullable var secondsPerRun: Double?
        var portKind: String
        /// `pooled` or `per-port`.
        var converters: String
        var sharedConverters: Bool
        /// `full` or `generational`.
        var collections: String
        /// `glibc` or `jemalloc` (preloaded).
        var malloc: String
        var policies: [String]
        var runs: [Run]
        var goals: [Goal]
    }

    /// One run in the JSON summary; figures a run does not have (a failed
    /// run, the Guile peer's table and foreign figures) are `null`. The `_`
    /// in two names puts the key's `_` before a digit (`rss_at_10pct_bytes`).
    struct Run: Encodable {
        var config: String
        var ballastMB: Int
        var error: String?
        @JSONNullable var portsPerSecond: Double?
        @JSONNullable var peakRSSBytes: Int?
        @JSONNullable var rssAt_10pctBytes: Int?
        @JSONNullable var endRSSBytes: Int?
        @JSONNullable var rssSlopeBytesPer_100k: Double?
        @JSONNullable var gcCount: Int?
        @JSONNullable var tableCapacity: Int?
        @JSONNullable var tableLive: Int?
        @JSONNullable var foreignLiveBytes: Int?
        @JSONNullable var heapSizeBytes: Int?
        @JSONNullable var collectionsRequested: Int?
        @JSONNullable var tableDeadAwaitingVacuum: Int?
        @JSONNullable var vacuums: Int?
        /// The open-ports table's vacuum time per dead entry it removed.
        @JSONNullable var vacuumNsPerDeadEntry: Double?
        /// The vacuum and each port's release, per dead port, measured at
        /// the end of the run.
        @JSONNullable var releaseNsPerDeadPort: Double?
        /// Time per port beyond the ceiling's: 1/measured - 1/ceiling.
        @JSONNullable var beyondCeilingNsPerPort: Double?
        /// The ceiling (see ``Ceiling``) and what it is computed from: X,
        /// Y, B and where B comes from (`trigger` or `observed`).
        @JSONNullable var ceilingPortsPerSecond: Double?
        @JSONNullable var measuredToCeiling: Double?
        @JSONNullable var pauseMsMean: Double?
        @JSONNullable var bytesPerDroppedPort: Double?
        @JSONNullable var byteBudget: Double?
        @JSONNullable var byteBudgetSource: String?
        @JSONNullable var ports: Int?
        @JSONNullable var seconds: Double?
        @JSONNullable var policy: String?
        @JSONNullable var peer: String?
        var stopped: String?

        init(_ run: RunResult, ceiling: Ceiling?) {
            config = run.config
            ballastMB = run.ballastMB
            policy = run.policy
            peer = run.isPeer ? "guile-3.0" : nil
            stopped = run.fields["stopped"]
            if let failure = run.error {
                error = failure
                return
            }
            /// A figure only the Swift side reports.
            func swift(_ key: String) -> Int? { run.isPeer ? nil : run.integer(key) }
            portsPerSecond = number(run.portsPerSecond)
            peakRSSBytes = run.peakRSS
            rssAt_10pctBytes = run.rssAt10Percent
            endRSSBytes = run.endRSS
            rssSlopeBytesPer_100k = number(run.rssSlopePer100k)
            gcCount = run.integer("gc_count")
            tableCapacity = swift("table_capacity")
            tableLive = swift("table_live")
            foreignLiveBytes = swift("foreign_live")
            heapSizeBytes = run.integer("heap_size")
            collectionsRequested = swift("collections_requested")
            tableDeadAwaitingVacuum = swift("table_dead")
            vacuums = swift("vacuums")
            vacuumNsPerDeadEntry = run.vacuumNanosecondsPerDeadEntry.flatMap(number)
            releaseNsPerDeadPort = run.releaseNanosecondsPerDeadPort.flatMap(number)
            byteBudget = run.byteBudget.map(Double.init)
            if let ceiling {
                ceilingPortsPerSecond = number(ceiling.portsPerSecond)
                measuredToCeiling = number(run.portsPerSecond / ceiling.portsPerSecond)
                beyondCeilingNsPerPort = number(1e9 / run.portsPerSecond - 1e9 / ceiling.portsPerSecond)
                pauseMsMean = ceiling.pauseSeconds.flatMap { number($0 * 1e3) }
                bytesPerDroppedPort = ceiling.bytesPerDroppedPort.flatMap(number)
                byteBudget = ceiling.budgetBytes.map { $0.rounded() } ?? byteBudget
                byteBudgetSource = ceiling.budgetSource?.rawValue
            }
            ports = run.ports
            seconds = number(run.seconds)
        }
    }

    func json(
        command: String, secondsPerRun: Double, portKind: String, policies: [String], long: Bool = false
    ) -> Summary {
        Summary(
            command: command, secondsPerRun: number(secondsPerRun), portKind: portKind, converters: converters,
            sharedConverters: converters == "pooled", collections: collections, malloc: malloc, policies: policies,
            runs: results.map { Run($0, ceiling: ceiling($0)) }, goals: goals(long: long))
    }
}
