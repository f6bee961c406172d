// port-churn: the soak benchmark of issue 5 (and the trigger-policy table of
// issue 6). See Benchmarks/README.md and `port-churn --help`.

#if canImport(Glibc)
    import Glibc
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
let options: Options
do throws(UsageError) {
    options = try Options.parse(arguments)
} catch {
    if let message = error.message {
        System.printError("port-churn: \(message)\n\n\(Options.usage)")
        exit(2)
    }
    print(Options.usage)
    exit(0)
}

if let config = options.runOne {
    exit(Child.run(configName: config, options: options))
}

/// A run to do: a Swift configuration (possibly under a trigger policy) or a
/// Guile peer run.
struct Plan {
    var config: String
    var ballastMB: Int
    var policy: String?
    var peer: PeerRun?
}

// The Guile peer: found on the PATH, script next to this source file.
var guile: (binary: String, script: String)?
switch options.peer {
case .none:
    break
case .auto, .guile:
    let script =
        options.guileScript
        ?? [
            "Benchmarks/guile/port-churn.scm",
            String(#filePath.dropLast("PortChurn/main.swift".count)) + "guile/port-churn.scm",
        ].first(where: System.fileExists)
    if let binary = System.which("guile-3.0"), let script, System.fileExists(script) {
        guile = (binary, script)
    } else {
        let why =
            System.which("guile-3.0") == nil
            ? "guile-3.0 is not installed (apt-get install guile-3.0)"
            : "the Guile script is missing (--guile-script PATH)"
        System.printError("port-churn: \(why): skipping the Guile peer")
        if options.peer == .guile { exit(1) }
    }
}

var plans: [Plan] = []
for ballast in options.ballasts {
    for config in options.configs {
        plans.append(Plan(config: config.rawValue, ballastMB: ballast))
    }
    for policy in options.policies {
        plans.append(Plan(config: ChurnConfig.both.rawValue, ballastMB: ballast, policy: policy))
    }
    if guile != nil {
        for peer in options.peerRuns {
            plans.append(Plan(config: peer.name, ballastMB: ballast, peer: peer))
        }
    }
}
// The policy table needs its references.
if !options.policies.isEmpty {
    for ballast in options.ballasts {
        for needed in [ChurnConfig.closed, .eager, .gcEvery]
        where !plans.contains(where: { $0.config == needed.rawValue && $0.ballastMB == ballast && $0.policy == nil }) {
            plans.append(Plan(config: needed.rawValue, ballastMB: ballast))
        }
    }
}

let secondsPerRun = options.secondsPerRun(runCount: plans.count)
let durationText = secondsPerRun > 0 ? "\(fixed(secondsPerRun, 1)) s" : "no time limit"
let iterationsText = options.iterations > 0 ? ", at most \(options.iterations) ports" : ""
print("port-churn: \(plans.count) runs, \(durationText) each\(iterationsText), one child process per run")
print(
    "ports: \(options.portKind) ports writing ISO-8859-15 through iconv, one short line each"
        + (options.sharedConverters ? " (pooled converters)" : " (one converter per port)"))
if let guile {
    print(
        "peer: \(guile.binary) \(guile.script) (string ports: iconv, not in the open-ports table; file ports on /dev/null: iconv, fd and the open-ports table)"
    )
    // Compile the script once, so no run pays Guile's compiler in time or RSS.
    var warmUp = RunResult(config: "guile-warm-up", ballastMB: 0, isPeer: true)
    Runner.run(
        [guile.binary, guile.script, "closed", "string", "0", "1", "1", "1000"], into: &warmUp, quietStderr: true
    ) { _ in }
    if let error = warmUp.error { System.printError("port-churn: Guile warm-up failed: \(error)") }
}

fflush(nil)  // the header before any progress or error on standard error
let showProgress = System.stderrIsTerminal
let executable = System.executablePath()
var results: [RunResult] = []
for (index, plan) in plans.enumerated() {
    var result = RunResult(
        config: plan.config, ballastMB: plan.ballastMB, policy: plan.policy, isPeer: plan.peer != nil)
    let command: [String]
    if let peer = plan.peer, let guile {
        // Guile has no "no time limit": a long deadline stands in for it.
        let seconds = secondsPerRun > 0 ? secondsPerRun : 1e9
        command = [
            guile.binary, guile.script, peer.mode, peer.portKind, String(plan.ballastMB), String(seconds),
            String(options.iterations), String(options.sampleMilliseconds),
        ]
    } else {
        var child = [
            executable, "--run-one", plan.config, "--ballast", String(plan.ballastMB),
            "--sample-ms", String(options.sampleMilliseconds), "--max-rss", String(options.maxRSSMegabytes),
            "--port", options.portKind,
        ]
        if options.sharedConverters { child.append("--shared-converters") }
        if secondsPerRun > 0 { child += ["--duration", String(secondsPerRun)] }
        if options.iterations > 0 { child += ["--iterations", String(options.iterations)] }
        if let policy = plan.policy { child += ["--run-policy", policy] }
        command = child
    }
    let tag = "[\(index + 1)/\(plans.count)] \(result.label), \(plan.ballastMB) MB"
    // A run ends on its own after its duration (plus the ballast's set-up);
    // one that does not is killed.
    let timeLimit = secondsPerRun > 0 ? secondsPerRun * 3 + 120 : nil
    Runner.run(command, into: &result, timeLimit: timeLimit) { partial in
        guard showProgress, let last = partial.samples.last else { return }
        System.printError(
            "\r\u{1B}[K\(tag): \(last.ports) ports, RSS \(fixed(Double(last.rssBytes) / 1_048_576, 1)) MB, "
                + "\(fixed(last.seconds, 1)) s",
            terminator: "")
    }
    if showProgress { System.printError("\r\u{1B}[K", terminator: "") }
    if let error = result.error {
        System.printError("\(tag): failed: \(error)")
    } else if showProgress {
        System.printError(
            "\(tag): \(fixed(result.portsPerSecond, 0)) ports/s, peak \(fixed(Double(result.peakRSS) / 1_048_576, 1)) MB"
        )
    }
    results.append(result)
}

let report = Report(results: results, ballasts: options.ballasts)
print("")
print("ports/s and peak RSS are also given relative to `closed` at the same ballast; MB/100k is the")
print("RSS slope per 100,000 ports from 10% of the run to its end; GCs are collections during the churn.")
print(report.summaryTable())
for note in report.notes() { print("note: \(note)") }
let goals = report.goalsTable()
if !goals.isEmpty {
    print("\ngoals (issue 5):")
    print(goals)
}
if let policyTable = report.policyTable(policies: options.policies) {
    print("\ntrigger policies (issue 6), `both` under each policy; time/closed is wall time per port:")
    print(policyTable.table)
    print(policyTable.verdict)
}

var failed = results.contains { $0.error != nil }
if let path = options.csvPath {
    do {
        try System.writeFile(path, report.csv())
        print("\nCSV: \(path)")
    } catch {
        System.printError("port-churn: \(error)")
        failed = true
    }
}
if let path = options.plotPath {
    if let problem = report.plot(to: path) {
        System.printError("port-churn: \(problem)")
    } else {
        print("plot: \(path)")
    }
}
if let path = options.jsonPath {
    do {
        try System.writeFile(
            path,
            report.json(
                command: ["port-churn"] + arguments, secondsPerRun: secondsPerRun, portKind: options.portKind,
                sharedConverters: options.sharedConverters,
                policies: options.policies))
        print("JSON: \(path)")
    } catch {
        System.printError("port-churn: \(error)")
        failed = true
    }
}
exit(failed ? 1 : 0)
