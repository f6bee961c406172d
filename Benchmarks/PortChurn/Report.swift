#if canImport(Glibc)
    import Glibc
#endif

/// One goal of issue 5, checked on the figures of this run.
struct Goal {
    var name: String
    var ballastMB: Int
    var value: Double
    var limit: Double
    /// `true` when the goal asks for `value >= limit`, `false` for `value <= limit`.
    var atLeast: Bool
    var met: Bool { atLeast ? value >= limit : value <= limit }
}

/// Tables, goals, JSON, CSV and the plot.
struct Report {
    var results: [RunResult]
    var ballasts: [Int]

    private func mb(_ bytes: Int) -> String { fixed(Double(bytes) / 1_048_576, 1) }

    func result(_ config: String, _ ballastMB: Int, policy: String? = nil) -> RunResult? {
        results.first { $0.config == config && $0.ballastMB == ballastMB && $0.policy == policy && $0.error == nil }
    }

    // MARK: Summary table

    func summaryTable() -> String {
        var lines: [String] = []
        let header = [
            pad("config", 24, left: true), pad("ballast", 7), pad("ports/s", 10), pad("x closed", 8),
            pad("peak MB", 8), pad("x closed", 8), pad("10% MB", 7), pad("end MB", 7), pad("end/10%", 7),
            pad("MB/100k", 8), pad("GCs", 6), pad("heap MB", 7), pad("table cap/live", 15),
            pad("foreign MB", 10),
        ].joined(separator: " ")
        lines.append(header)
        lines.append(String(repeating: "-", count: header.count))
        for ballast in ballasts {
            let closed = result(ChurnConfig.closed.rawValue, ballast)
            for run in results where run.ballastMB == ballast {
                var row = [pad(run.label, 24, left: true), pad("\(run.ballastMB) MB", 7)]
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
                if run.fields["stopped"] == "rss_limit" { row.append("  (stopped at the RSS limit)") }
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
            if let lazy = result("lazy", ballast), lazy.fields["stopped"] == "rss_limit" {
                notes.append("lazy, \(ballast) MB: stopped at the RSS limit (--max-rss)")
            }
        }
        return notes
    }

    // MARK: Goals

    func goals() -> [Goal] {
        var goals: [Goal] = []
        for ballast in ballasts {
            if let both = result("both", ballast), let closed = result("closed", ballast) {
                goals.append(
                    Goal(
                        name: "both/closed ports per second", ballastMB: ballast,
                        value: both.portsPerSecond / max(closed.portsPerSecond, 1e-9), limit: 0.8, atLeast: true))
                goals.append(
                    Goal(
                        name: "both/closed peak RSS", ballastMB: ballast,
                        value: Double(both.peakRSS) / Double(max(closed.peakRSS, 1)), limit: 1.25, atLeast: false))
            }
            if let both = result("both", ballast) {
                goals.append(
                    Goal(
                        name: "both end RSS / RSS at 10%", ballastMB: ballast,
                        value: Double(both.endRSS) / Double(max(both.rssAt10Percent, 1)), limit: 1.1,
                        atLeast: false))
            }
            if let lazy = result("lazy", ballast), let both = result("both", ballast) {
                // "Visibly grows": its peak passes both's by more than the
                // 1.25x that both may take over closed.
                goals.append(
                    Goal(
                        name: "lazy/both peak RSS (lazy grows)", ballastMB: ballast,
                        value: Double(lazy.peakRSS) / Double(max(both.peakRSS, 1)), limit: 1.25, atLeast: true))
            }
            for peer in ["guile-string-dropped", "guile-file-dropped"] {
                if let both = result("both", ballast), let guile = result(peer, ballast) {
                    goals.append(
                        Goal(
                            name: "both/\(peer) ports per second", ballastMB: ballast,
                            value: both.portsPerSecond / max(guile.portsPerSecond, 1e-9), limit: 1, atLeast: true))
                    goals.append(
                        Goal(
                            name: "both/\(peer) peak RSS", ballastMB: ballast,
                            value: Double(both.peakRSS) / Double(max(guile.peakRSS, 1)), limit: 1, atLeast: false))
                }
            }
        }
        return goals
    }

    func goalsTable() -> String {
        goals().map { goal in
            let relation = goal.atLeast ? ">=" : "<="
            return "\(goal.met ? "met   " : "MISSED") \(pad("\(goal.ballastMB) MB", 6)) "
                + "\(pad(goal.name, 44, left: true)) \(pad(fixed(goal.value, 3), 7)) (goal \(relation) \(fixed(goal.limit, 2)))"
        }.joined(separator: "\n")
    }

    // MARK: Policy table (issue 6)

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

    func json(
        command: [String], secondsPerRun: Double, portKind: String, sharedConverters: Bool, policies: [String]
    ) -> String {
        func string(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        }
        func number(_ value: Double) -> String { value.isFinite ? fixed(value, 3) : "null" }
        func optional(_ value: Int?) -> String { value.map(String.init) ?? "null" }
        var runs: [String] = []
        for run in results {
            var fields: [(String, String)] = [
                ("config", string(run.config)),
                ("ballast_mb", String(run.ballastMB)),
            ]
            if let error = run.error {
                fields.append(("error", string(error)))
            } else {
                fields += [
                    ("ports_per_second", number(run.portsPerSecond)),
                    ("peak_rss_bytes", String(run.peakRSS)),
                    ("rss_at_10pct_bytes", String(run.rssAt10Percent)),
                    ("end_rss_bytes", String(run.endRSS)),
                    ("rss_slope_bytes_per_100k", number(run.rssSlopePer100k)),
                    ("gc_count", optional(run.integer("gc_count"))),
                    ("table_capacity", run.isPeer ? "null" : optional(run.integer("table_capacity"))),
                    ("table_live", run.isPeer ? "null" : optional(run.integer("table_live"))),
                    ("foreign_live_bytes", run.isPeer ? "null" : optional(run.integer("foreign_live"))),
                    ("heap_size_bytes", optional(run.integer("heap_size"))),
                    ("collections_requested", run.isPeer ? "null" : optional(run.integer("collections_requested"))),
                    ("table_dead_awaiting_vacuum", run.isPeer ? "null" : optional(run.integer("table_dead"))),
                    ("vacuums", run.isPeer ? "null" : optional(run.integer("vacuums"))),
                    ("ports", String(run.ports)),
                    ("seconds", number(run.seconds)),
                ]
            }
            fields.append(("policy", run.policy.map(string) ?? "null"))
            fields.append(("peer", run.isPeer ? string("guile-3.0") : "null"))
            if run.fields["stopped"] != nil { fields.append(("stopped", string(run.fields["stopped"]!))) }
            runs.append("    {" + fields.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ") + "}")
        }
        let goals = goals().map { goal in
            "    {\"name\": \(string(goal.name)), \"ballast_mb\": \(goal.ballastMB), "
                + "\"value\": \(number(goal.value)), \"limit\": \(number(goal.limit)), "
                + "\"at_least\": \(goal.atLeast), \"met\": \(goal.met)}"
        }
        return """
            {
              "command": \(string(command.joined(separator: " "))),
              "seconds_per_run": \(number(secondsPerRun)),
              "port_kind": \(string(portKind)),
              "shared_converters": \(sharedConverters),
              "policies": [\(policies.map(string).joined(separator: ", "))],
              "runs": [
            \(runs.joined(separator: ",\n"))
              ],
              "goals": [
            \(goals.joined(separator: ",\n"))
              ]
            }

            """
    }

    func csv() -> String {
        var lines = ["config,ballast_mb,ports,seconds,rss_bytes"]
        for run in results {
            for sample in run.samples {
                lines.append(
                    "\(run.label),\(run.ballastMB),\(sample.ports),\(fixed(sample.seconds, 3)),\(sample.rssBytes)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Draws RSS against ports, one panel per ballast, with gnuplot.
    ///
    /// - Returns: `nil` on success, or why there is no plot.
    func plot(to path: String) -> String? {
        guard let gnuplot = System.which("gnuplot") else {
            return "gnuplot not found (apt-get install gnuplot-nox): no plot; the CSV has the series"
        }
        var script = ""
        var panels: [String] = []
        var blockIndex = 0
        for ballast in ballasts {
            var plots: [String] = []
            for run in results where run.ballastMB == ballast && run.samples.count > 1 {
                let name = "$d\(blockIndex)"
                blockIndex += 1
                script += "\(name) << EOD\n"
                for sample in run.samples {
                    script +=
                        "\(fixed(Double(sample.ports) / 1000, 3)) \(fixed(Double(sample.rssBytes) / 1_048_576, 2))\n"
                }
                script += "EOD\n"
                let style = run.isPeer ? "dashtype 2 " : ""
                plots.append("\(name) using 1:2 with lines \(style)linewidth 2 title \"\(run.label)\"")
            }
            guard !plots.isEmpty else { continue }
            panels.append(
                "set title \"port churn, \(ballast) MB live heap\"\nplot " + plots.joined(separator: ", \\\n     "))
        }
        guard !panels.isEmpty else { return "no samples to plot" }
        System.makeParentDirectory(of: path)
        script += """
            set terminal pngcairo size 1200,\(420 * panels.count) font ",10"
            set output "\(path)"
            set multiplot layout \(panels.count),1
            set xlabel "ports opened (thousands)"
            set ylabel "RSS (MB, log scale)"
            set logscale y 2
            set key outside right top
            set grid

            """
        script += panels.joined(separator: "\n") + "\nunset multiplot\n"
        let scriptPath = path + ".gp"
        do {
            try System.writeFile(scriptPath, script)
        } catch {
            return "cannot write the gnuplot script: \(error)"
        }
        var result = RunResult(config: "gnuplot", ballastMB: 0, isPeer: false)
        Runner.run([gnuplot, scriptPath], into: &result, quietStderr: false) { _ in }
        if let error = result.error, error != "no result record" {
            return "gnuplot failed (\(error)); script left at \(scriptPath)"
        }
        unlink(scriptPath)
        return nil
    }
}
