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

    /// Distinct line colors (Okabe-Ito, then a few more).
    static let colors = [
        "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#F0E442",
        "#999999", "#8B4513", "#6A3D9A", "#B15928",
    ]

    /// Draws RSS against ports, one panel per ballast, with gnuplot.
    ///
    /// - Returns: `nil` on success, or why there is no plot.
    func plot(to path: String) async -> String? {
        guard let gnuplot = await findOnPath("gnuplot") else {
            return "gnuplot not found (apt-get install gnuplot-nox): no plot; the CSV has the series"
        }
        var script = ""
        var panels: [String] = []
        // One color per configuration, the same in every panel.
        var labels: [String] = []
        for run in results where !labels.contains(run.label) { labels.append(run.label) }
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
                let color = Self.colors[(labels.firstIndex(of: run.label) ?? 0) % Self.colors.count]
                plots.append(
                    "\(name) using 1:2 with lines \(style)linewidth 2 linecolor rgb \"\(color)\" title \"\(run.label)\""
                )
            }
            guard !plots.isEmpty else { continue }
            panels.append(
                "set title \"port churn, \(ballast) MB live heap\"\nplot " + plots.joined(separator: ", \\\n     "))
        }
        guard !panels.isEmpty else { return "no samples to plot" }
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
