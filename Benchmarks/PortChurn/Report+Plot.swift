import BenchmarkDriverSupport
import BenchmarkSupport

#if canImport(Glibc)
    import Glibc
#endif

extension Report {
    func csv() -> String {
        var lines = ["config,ballast_mb,ports,seconds,rss_bytes"]
        for run in results {
            // Policy labels may hold commas: quote them (RFC 4180).
            let label = run.label.contains(",") ? "\"\(run.label)\"" : run.label
            for sample in run.samples {
                lines.append(
                    "\(label),\(run.ballastMB),\(sample.ports),\(fixed(sample.seconds, 3)),\(sample.rssBytes)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The runs of a CSV written by ``csv()`` (samples only), for redrawing.
    static func results(fromCSV text: String) -> [RunResult] {
        var results: [RunResult] = []
        for line in text.split(separator: "\n").dropFirst() {
            var rest = Substring(line)
            var label = ""
            if rest.hasPrefix("\""), let close = rest.dropFirst().firstIndex(of: "\"") {
                label = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...]
            }
            var fields = rest.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if !label.isEmpty { fields[0] = label }
            guard fields.count == 5, let ballast = Int(fields[1]), let ports = Int(fields[2]),
                let seconds = Double(fields[3]), let rss = Int(fields[4])
            else { continue }
            if results.last?.config != fields[0] || results.last?.ballastMB != ballast {
                results.append(RunResult(config: fields[0], ballastMB: ballast, isPeer: fields[0].hasPrefix("guile-")))
            }
            results[results.count - 1].output.samples.append(Sample(ports: ports, seconds: seconds, rssBytes: rss))
        }
        return results
    }

    /// Line colours of the Swift configurations (Okabe-Ito, then grey),
    /// and of the Guile peer's runs, drawn dashed in darker colours of their
    /// own.
    static let colors = ["#D55E00", "#56B4E9", "#009E73", "#0072B2", "#E69F00", "#000000", "#CC79A7", "#999999"]
    static let peerColors = ["#7B3294", "#8C510A", "#01665E", "#4D4D4D"]

    /// Tick marks for a logarithmic axis from `low` to `high`: 1, 2 and 5
    /// times powers of ten, and more when few of those fall in the range.
    static func logTicks(_ low: Double, _ high: Double) -> [Double] {
        var ticks: [Double] = []
        for steps in [[1.0, 2, 5], [1, 1.5, 2, 3, 5, 7], [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9]] {
            ticks = []
            var power = 1e-3
            while power <= high {
                ticks += steps.map { $0 * power }.filter { $0 >= low && $0 <= high }
                power *= 10
            }
            if ticks.count >= 4 { break }
        }
        return ticks
    }

    /// Draws, with gnuplot, a row of three panels per ballast: RSS against
    /// ports opened, RSS against time, and RSS against time without the
    /// runs that leak.
    ///
    /// In the first two, RSS is on a logarithmic axis with the row's own
    /// range, from that ballast's samples, so a configuration that grows to
    /// gigabytes does not flatten the ones that stay within a few MB. Ports
    /// are on a logarithmic axis too: configurations run at 30 to 500,000
    /// ports per second, and a linear axis would leave the slow ones at its
    /// origin. Time is linear: every run lasts about as long. The third
    /// panel leaves out the runs whose peak passes twice `closed`'s and
    /// draws the others on a linear axis of their own range, so lines a few
    /// MB apart can be told apart.
    ///
    /// - Returns: `nil` on success, or why there is no plot.
    func plot(to path: String) async -> String? {
        guard let gnuplot = await findOnPath("gnuplot") else {
            return "gnuplot not found (apt-get install gnuplot-nox): no plot; the CSV has the series"
        }
        var script = ""
        var rows: [String] = []
        // One color per configuration, the same in every panel.
        var labels: [String] = []
        var peerLabels: [String] = []
        for run in results {
            if run.isPeer {
                if !peerLabels.contains(run.label) { peerLabels.append(run.label) }
            } else if !labels.contains(run.label) {
                labels.append(run.label)
            }
        }
        var blockIndex = 0
        for ballast in ballasts {
            let runs = results.filter { $0.ballastMB == ballast && $0.samples.count > 1 }
            let rss = runs.flatMap { $0.samples.map(\.rssBytes) }.filter { $0 > 0 }
            guard let low = rss.min(), let high = rss.max() else { continue }
            // The zoom leaves out runs whose peak passes twice `closed`'s
            // (or, without `closed`, twice the lowest peak): the leaks.
            let reference = runs.first { $0.config == "closed" }?.peakRSS ?? runs.map(\.peakRSS).min() ?? 0
            let leaking = Set(runs.filter { $0.peakRSS > 2 * reference }.map(\.label))
            let kept = runs.filter { !leaking.contains($0.label) }.flatMap { $0.samples.map(\.rssBytes) }
            var byPorts: [String] = []
            var byTime: [String] = []
            var zoomed: [String] = []
            for run in runs {
                let name = "$d\(blockIndex)"
                blockIndex += 1
                script += "\(name) << EOD\n"
                for sample in run.samples {
                    let megabytes = fixed(Double(sample.rssBytes) / 1_048_576, 2)
                    script += "\(sample.ports) \(fixed(sample.seconds, 3)) \(megabytes)\n"
                }
                script += "EOD\n"
                let color =
                    run.isPeer
                    ? Self.peerColors[(peerLabels.firstIndex(of: run.label) ?? 0) % Self.peerColors.count]
                    : Self.colors[(labels.firstIndex(of: run.label) ?? 0) % Self.colors.count]
                let style = "\(run.isPeer ? "dashtype (12,6) " : "")linewidth 2 linecolor rgb \"\(color)\""
                byPorts.append("\(name) using ($1 > 0 ? $1 : NaN):3 with lines \(style) notitle")
                byTime.append("\(name) using 2:3 with lines \(style) notitle")
                if !leaking.contains(run.label) {
                    zoomed.append("\(name) using 2:3 with lines \(style) title \"\(run.label)\"")
                } else {
                    // In the key, though not drawn, so the key lists every run.
                    zoomed.append("NaN with lines \(style) title \"\(run.label) (not drawn)\"")
                }
            }
            let zoomLow = Double(kept.min() ?? low) / 1_048_576
            let zoomHigh = Double(kept.max() ?? high) / 1_048_576
            let margin = max((zoomHigh - zoomLow) * 0.05, 0.5)
            let leftOut = leaking.isEmpty ? "every run" : "runs within 2x closed's peak"
            let (bottom, top) = (Double(low) / 1_048_576 / 1.1, Double(high) / 1_048_576 * 1.1)
            let ticks = Self.logTicks(bottom, top).map { "\(fixed($0, $0 < 10 ? 2 : 0))" }
            rows.append(
                """
                set yrange [\(fixed(bottom, 2)):\(fixed(top, 2))]
                set ytics (\(ticks.joined(separator: ", ")))
                set title "RSS against ports, \(ballast) MB live heap"
                set logscale x 10
                set format x "%.0s%c"
                set xlabel "ports opened (log scale)"
                unset key
                plot \(byPorts.joined(separator: ", \\\n     "))
                set title "RSS against time, \(ballast) MB live heap"
                unset logscale x
                set format x "%g"
                set xlabel "seconds"
                plot \(byTime.joined(separator: ", \\\n     "))
                set title "RSS against time, \(ballast) MB live heap: \(leftOut), linear"
                unset logscale y
                set ytics autofreq
                set ylabel "RSS (MB)"
                set yrange [\(fixed(zoomLow - margin, 2)):\(fixed(zoomHigh + margin, 2))]
                set key outside right top
                plot \(zoomed.joined(separator: ", \\\n     "))
                set logscale y 10
                set ylabel "RSS (MB, log scale)"
                """)
        }
        guard !rows.isEmpty else { return "no samples to plot" }
        script += """
            set terminal pngcairo size 2200,\(440 * rows.count) font ",10"
            set output "\(path)"
            set multiplot layout \(rows.count),3
            set ylabel "RSS (MB, log scale)"
            set logscale y 10
            set grid xtics ytics

            """
        script += rows.joined(separator: "\n") + "\nunset multiplot\n"
        let scriptPath = path + ".gp"
        do {
            try writeText(script, to: scriptPath)  // creates the plot's directory too
        } catch {
            return "cannot write the gnuplot script: \(error)"
        }
        if let error = await runTool([gnuplot, scriptPath]) {
            return "gnuplot failed (\(error)); script left at \(scriptPath)"
        }
        unlink(scriptPath)
        return nil
    }
}
