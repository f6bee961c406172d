// port-churn: the soak benchmark of the port leak (and the trigger-policy
// table). See Benchmarks/README.md and `port-churn --help`. This is the
// driver: every configuration runs in a port-churn-child process (or the
// Guile peer), which reports samples and a result; the driver prints the
// tables and writes the CSV, the plot and the JSON.
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport

#if canImport(Glibc)
    import Glibc
#endif

/// How the Swift runs' collector collects (`GC.Configuration.collections`).
enum CollectionsChoice: String, ExpressibleByArgument, Sendable {
    case full
    case generational
}

/// Where the soak's ports get their converters (GCPorts' converter policy).
enum ConverterChoice: String, ExpressibleByArgument, Sendable {
    case pooled
    case perPort = "per-port"
}

/// The malloc the Swift runs use: glibc's own, or jemalloc preloaded (as
/// Swift servers often run).
enum MallocChoice: String, ExpressibleByArgument, Sendable {
    case glibc
    case jemalloc

    /// Debian's libjemalloc2.
    static let jemallocLibrary = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
}

@main
struct PortChurn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "port-churn",
        abstract: "Churns iconv-transcoding output ports (ISO-8859-15), with Guile 3.0 side by side.",
        discussion: """
            Each iteration opens a port, writes a short line and drops it unclosed (except in `closed`). \
            Every configuration runs in its own child process, so RSS and peak RSS are its own.
            """)

    @Option(
        help: ArgumentHelp(
            "lazy,eager,accounted,both,seed,gc-every,closed (the default), and closed-raw (closed, foreign-memory "
                + "trigger off); `none` runs only the Guile peer.", valueName: "list"),
        transform: churnConfigs)
    var configs = ChurnConfig.defaults

    @Option(
        name: .customLong("ballast"),
        help: ArgumentHelp("Live GC heap in MB kept during the churn (default: 0,64).", valueName: "list"),
        transform: integerList)
    var ballasts: [Int]?

    @Option(
        help: ArgumentHelp(
            "Seconds per configuration (default: about 120 s for the whole run, spread over the configurations, "
                + "3 to 10 s each).", valueName: "seconds"))
    var duration: Double?

    @Option(help: "Ports per configuration; with --duration, whichever comes first; alone, no time limit.")
    var iterations: Int?

    @Option(
        name: .customLong("port"), help: "The ports the Swift side churns: string ports, or file ports on /dev/null.")
    var portKind = PortKind.string

    @Option(
        help: ArgumentHelp(
            "pooled: ports borrow a converter from a per-encoding pool (the library's default); per-port: every port "
                + "owns one (the story's dark matter). Every configuration, closed included, uses the same."))
    var converters: ConverterChoice = .pooled

    @Option(
        help: ArgumentHelp(
            "full: every collection marks the whole heap (the library's default); generational: libgc's "
                + "generational mode, partial collections with a full one after every 4 (--full-every; every Swift run, closed included)."
        )
    )
    var collections: CollectionsChoice = .full

    @Option(
        name: .customLong("full-every"),
        help: ArgumentHelp(
            "With --collections generational: partial collections between full ones (the library's default: 4).",
            valueName: "n"))
    var fullEvery: Int?

    @Option(
        help: ArgumentHelp(
            "glibc: the Swift runs use glibc's malloc; jemalloc: Debian's libjemalloc2, preloaded (LD_PRELOAD) "
                + "in every Swift run, closed included."))
    var malloc: MallocChoice = .glibc

    @Flag(
        help: ArgumentHelp(
            "The long soak: `both` with the library's defaults at 64 MB of live heap for an hour, sampled every "
                + "second, no peer (--duration, --configs, --ballast change it); prints the end RSS against the RSS "
                + "at a tenth of the run (6 min) and the ports per second of its first and last sixth (10 min)."))
    var long = false

    @Option(name: .customLong("sample-ms"), help: "RSS sampling interval in milliseconds.")
    var sampleMilliseconds = 100

    @Option(name: .customLong("max-rss"), help: "Stop a run early when its RSS passes this many MB.")
    var maxRSSMegabytes = 4096

    @Option(help: "Also run the churn in Guile 3.0 (default: auto, when guile-3.0 is installed).")
    var peer: PeerChoice?

    @Option(
        name: .customLong("peer-runs"),
        help: ArgumentHelp(
            "Guile runs as KIND-MODE, KIND string|file, MODE dropped|closed|gc-every "
                + "(default: string-dropped,string-closed,file-dropped).", valueName: "list"),
        transform: PeerRun.list)
    var peerRuns = PeerRun.defaults

    @Option(
        name: .customLong("policy"),
        help: ArgumentHelp(
            "bytes,count,time,either or all: also run `both` under each foreign-memory trigger policy and print "
                + "the policy table. Items may also be full spellings separated by `;`: "
                + "count:500;interval:5ms;either:count:500,interval:5ms", valueName: "list"),
        transform: TriggerPolicyShorthand.spellings)
    var policies: [String] = []

    @Option(help: ArgumentHelp("Write the summary as JSON.", valueName: "path"))
    var json: String?

    @Option(
        help: ArgumentHelp("RSS time series (default: bench-out/port-churn.csv; `none` to skip).", valueName: "path"),
        transform: optionalPath)
    var csv: String? = "bench-out/port-churn.csv"

    @Option(
        help: ArgumentHelp(
            "PNG of RSS against ports, with gnuplot (default: bench-out/port-churn.png; `none` to skip).",
            valueName: "path"),
        transform: optionalPath)
    var plot: String? = "bench-out/port-churn.png"

    @Option(help: ArgumentHelp("Only redraw the plot (--plot PATH) from a CSV written before.", valueName: "csv"))
    var plotFrom: String?

    @Option(help: ArgumentHelp("The Guile peer (default: Benchmarks/guile/port-churn.scm).", valueName: "path"))
    var guileScript: String?

    @Flag(help: "Seconds in all: 0.3 s per configuration, ballast 0 and 4 MB, no peer.")
    var tiny = false

    /// Budget of the whole default run, spread over the configurations.
    static let totalSeconds = 120.0

    func validate() throws {
        if let duration, !(duration > 0) { throw ValidationError("bad duration \(duration)") }
        if let iterations, iterations <= 0 { throw ValidationError("bad iterations \(iterations)") }
        if sampleMilliseconds <= 0 { throw ValidationError("bad sample interval \(sampleMilliseconds)") }
        if maxRSSMegabytes <= 0 { throw ValidationError("bad RSS limit \(maxRSSMegabytes)") }
        if let fullEvery, !(1...10_000).contains(fullEvery) { throw ValidationError("bad --full-every \(fullEvery)") }
    }

    /// A run to do: a Swift configuration (possibly under a trigger policy)
    /// or a Guile peer run.
    struct Plan {
        var config: String
        var ballastMB: Int
        var policy: String?
        var peer: PeerRun?
    }

    mutating func run() async throws {
        if let plotFrom {
            try await redraw(from: plotFrom)
            return
        }
        if tiny && duration == nil { duration = 0.3 }
        if long {
            if duration == nil && iterations == nil { duration = 3_600 }
            if !CommandLine.arguments.contains("--configs") { configs = [.both] }
            if !CommandLine.arguments.contains("--sample-ms") { sampleMilliseconds = 1_000 }
        }
        let ballasts = self.ballasts ?? (tiny ? [0, 4] : long ? [64] : [0, 64])
        let peer = self.peer ?? (tiny || long ? PeerChoice.none : .auto)
        if malloc == .jemalloc && !fileExists(MallocChoice.jemallocLibrary) {
            printError("port-churn: \(MallocChoice.jemallocLibrary) is missing (apt-get install libjemalloc2)")
            throw ExitCode.failure
        }
        let guile = peer == .none ? nil : try await findGuile(required: peer == .guile)

        var plans: [Plan] = []
        for ballast in ballasts {
            plans += configs.map { Plan(config: $0.rawValue, ballastMB: ballast) }
            plans += policies.map { Plan(config: ChurnConfig.both.rawValue, ballastMB: ballast, policy: $0) }
            if guile != nil { plans += peerRuns.map { Plan(config: $0.name, ballastMB: ballast, peer: $0) } }
        }
        // The policy table needs its references.
        if !policies.isEmpty {
            for ballast in ballasts {
                for needed in [ChurnConfig.closed, .eager, .gcEvery]
                where !plans.contains(where: {
                    $0.config == needed.rawValue && $0.ballastMB == ballast && $0.policy == nil
                }) {
                    plans.append(Plan(config: needed.rawValue, ballastMB: ballast))
                }
            }
        }

        let secondsPerRun = secondsPerRun(runCount: plans.count)
        let durationText = secondsPerRun > 0 ? "\(fixed(secondsPerRun, 1)) s" : "no time limit"
        let iterationsText = iterations.map { ", at most \($0) ports" } ?? ""
        print("port-churn: \(plans.count) runs, \(durationText) each\(iterationsText), one child process per run")
        print(
            "ports: \(portKind) ports writing ISO-8859-15 through iconv, one short line each"
                + (converters == .pooled ? " (pooled converters)" : " (one converter per port)")
                + (collections == .generational ? ", generational collections" : "")
                + (malloc == .jemalloc ? ", jemalloc (LD_PRELOAD)" : ""))
        if let guile {
            print(
                "peer: \(guile.binary) \(guile.script) (string ports: iconv, not in the open-ports table; file ports on /dev/null: iconv, fd and the open-ports table)"
            )
            // Compile the script once, so no run pays Guile's compiler in time or RSS.
            let warmUp = await runChild(
                [guile.binary, guile.script, "closed", "string", "0", "1", "1", "1000"], quietStandardError: true)
            if let error = warmUp.error { printError("port-churn: Guile warm-up failed: \(error)") }
        }

        fflush(nil)  // the header before any progress or error on standard error
        let child = try siblingExecutable("port-churn-child")
        var results: [RunResult] = []
        for (index, plan) in plans.enumerated() {
            var result = RunResult(
                config: plan.config, ballastMB: plan.ballastMB, policy: plan.policy, isPeer: plan.peer != nil)
            let command: [String]
            if let peer = plan.peer, let guile {
                // Guile has no "no time limit": a long deadline stands in for it.
                command = [
                    guile.binary, guile.script, peer.mode, peer.portKind, String(plan.ballastMB),
                    String(secondsPerRun > 0 ? secondsPerRun : 1e9), String(iterations ?? 0),
                    String(sampleMilliseconds),
                ]
            } else {
                var arguments =
                    malloc == .jemalloc ? ["/usr/bin/env", "LD_PRELOAD=\(MallocChoice.jemallocLibrary)"] : []
                arguments += [
                    child, plan.config, "--ballast", String(plan.ballastMB), "--sample-ms", String(sampleMilliseconds),
                    "--max-rss", String(maxRSSMegabytes), "--port", portKind.rawValue,
                ]
                arguments += ["--converters", converters.rawValue, "--collections", collections.rawValue]
                if let fullEvery { arguments += ["--full-every", String(fullEvery)] }
                if secondsPerRun > 0 { arguments += ["--duration", String(secondsPerRun)] }
                if let iterations { arguments += ["--iterations", String(iterations)] }
                if let policy = plan.policy { arguments += ["--policy", policy] }
                command = arguments
            }
            let tag = "[\(index + 1)/\(plans.count)] \(result.label), \(plan.ballastMB) MB"
            let showProgress = standardErrorIsTerminal
            // A run ends on its own after its duration (plus the ballast's
            // set-up); one that does not is killed.
            let timeLimit = secondsPerRun > 0 ? Duration.seconds(secondsPerRun * 3 + 120) : nil
            result.output = await runChild(command, timeLimit: timeLimit) { partial in
                guard showProgress, let last = partial.samples.last else { return }
                printError(
                    "\r\u{1B}[K\(tag): \(last.ports) ports, RSS \(fixed(Double(last.rssBytes) / 1_048_576, 1)) MB, "
                        + "\(fixed(last.seconds, 1)) s",
                    terminator: "")
            }
            if showProgress { printError("\r\u{1B}[K", terminator: "") }
            if let error = result.error {
                printError("\(tag): failed: \(error)")
            } else if showProgress {
                printError(
                    "\(tag): \(fixed(result.portsPerSecond, 0)) ports/s, "
                        + "peak \(fixed(Double(result.peakRSS) / 1_048_576, 1)) MB")
            }
            results.append(result)
        }

        let report = Report(
            results: results, ballasts: ballasts, converters: converters.rawValue,
            collections: collections.rawValue, malloc: malloc.rawValue)
        print("")
        print("ports/s and peak RSS are also given relative to `closed` at the same ballast; MB/100k is the")
        print("RSS slope per 100,000 ports from 10% of the run to its end; GCs are collections during the churn.")
        print(report.summaryTable())
        for note in report.notes() { print("note: \(note)") }
        print("")
        print("the ceiling: a dropped port costs at least c0 + X*Y/B (c0: a closed port's time, from `closed` at the")
        print("same ballast; X: the run's mean collection pause; Y: bytes a port holds when dropped, foreign and GC;")
        print("B: bytes between collections, the trigger's budget when the trigger ran most collections, else * the")
        print("bytes dropped per collection observed); ceiling ports/s = 1 / (c0 + X*Y/B); beyond: ns per port past")
        print("the ceiling's.")
        print("vacuum: the open-ports table's own time per dead entry it removed; release: a last collection's vacuum")
        print("and each port's release (output ended, converter back, bytes removed) per dead port, timed at the end.")
        print(report.ceilingTable())
        if long {
            print(
                "\nthe long soak: RSS at a tenth of the run (6 min of an hour) and at its end; ports per second in the")
            print("first and last sixth of the run (10 min of an hour each):")
            print(report.longSoakTable())
        }
        let goals = report.goalsTable(long: long)
        if !goals.isEmpty {
            let mode =
                [
                    converters.rawValue + " converters", collections == .generational ? "generational" : nil,
                    malloc == .jemalloc ? "jemalloc" : nil,
                ].compactMap { $0 }.joined(separator: ", ")
            print("\ngoals (\(mode)):")
            print(goals)
        }
        if let policyTable = report.policyTable(policies: policies) {
            print("\ntrigger policies, `both` under each policy; time/closed is wall time per port:")
            print(policyTable.table)
            print(policyTable.verdict)
        }

        fflush(nil)  // the tables before any message on standard error
        var failed = results.contains { $0.error != nil }
        if let csv {
            do {
                try writeText(report.csv(), to: csv)
                print("\nCSV: \(csv)")
            } catch {
                printError("port-churn: cannot write \(csv): \(error)")
                failed = true
            }
        }
        if let plot {
            if let problem = await report.plot(to: plot) {
                printError("port-churn: \(problem)")
            } else {
                print("plot: \(plot)")
            }
        }
        if let json {
            do {
                try writeJSON(
                    report.json(
                        command: (["port-churn"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
                        secondsPerRun: secondsPerRun, portKind: portKind.rawValue, policies: policies, long: long),
                    to: json, snakeCaseKeys: true)
                print("JSON: \(json)")
            } catch {
                printError("port-churn: cannot write \(json): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }

    /// Seconds per run when `--duration` is not given: the default run takes
    /// about `totalSeconds` in all.
    func secondsPerRun(runCount: Int) -> Double {
        if let duration { return duration }
        if iterations != nil { return 0 }  // iterations alone: no time limit
        return min(10, max(3, Self.totalSeconds / Double(max(1, runCount))))
    }

    /// The Guile peer: `guile-3.0` on the PATH, the script next to this
    /// source file. `nil`, after a message, when either is missing (an
    /// error when the peer is `required`).
    func findGuile(required: Bool) async throws -> (binary: String, script: String)? {
        let script =
            guileScript
            ?? [
                "Benchmarks/guile/port-churn.scm",
                String(#filePath.dropLast("PortChurn/PortChurn.swift".count)) + "guile/port-churn.scm",
            ].first(where: fileExists)
        let binary = await findOnPath("guile-3.0")
        if let binary, let script, fileExists(script) { return (binary, script) }
        let why =
            binary == nil
            ? "guile-3.0 is not installed (apt-get install guile-3.0)"
            : "the Guile script is missing (--guile-script PATH)"
        printError("port-churn: \(why): skipping the Guile peer")
        if required { throw ExitCode.failure }
        return nil
    }

    /// Redraws the plot from a CSV this benchmark wrote, without running.
    func redraw(from csvPath: String) async throws {
        let results = Report.results(fromCSV: try readText(csvPath))
        let ballasts = results.map(\.ballastMB).reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
        let path = plot ?? "bench-out/port-churn.png"
        if let problem = await Report(results: results, ballasts: ballasts).plot(to: path) {
            printError("port-churn: \(problem)")
            throw ExitCode.failure
        }
        print("plot: \(path)")
    }
}
