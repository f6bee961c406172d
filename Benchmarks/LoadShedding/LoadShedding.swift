// load-shedding: runs the load-shedding example server
// (Benchmarks/LoadSheddingServer) under a cgroup memory limit made by
// scripts/under-memory-limit.sh, with the memory-pressure monitor and
// without, several times each, and prints what each accepted, refused and
// peaked at, and how often the kernel's OOM killer ended it.
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One way to run the server.
enum Variant: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// MemoryPressureMonitor() as it comes.
    case monitor
    /// No monitor: the kernel kills it.
    case none
    /// No monitor, the GC heap limit at 75 % of the group's limit.
    case heapShare = "heap-share"

    var serverArguments: [String] {
        switch self {
        case .monitor: ["--monitor", "default"]
        case .none: ["--monitor", "none"]
        case .heapShare: ["--monitor", "none", "--heap-share-percent", "75"]
        }
    }

    var title: String {
        switch self {
        case .monitor: "monitor (default configuration)"
        case .none: "no monitor"
        case .heapShare: "no monitor, heap share 75 %"
        }
    }
}

/// What one run gave.
struct Run: Codable, Sendable {
    var variant: String
    var exitStatus: Int
    var oomKills: Int
    var accepted: Int?
    var refused: Int?
    var refusedOutOfMemory: Int?
    var allowed: Int?
    var limitBytes: Int
    var groupPeakBytes: Int
    var peakRSSBytes: Int?
    var levelChanges: Int?
    var notices: Int?

    var share: Double? {
        guard let accepted, let allowed, allowed > 0 else { return nil }
        return Double(accepted) / Double(allowed)
    }
}

@main
struct LoadShedding: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-shedding",
        abstract: "The load-shedding example under a cgroup memory limit, with and without the monitor.",
        discussion: """
            Each run is `bash scripts/under-memory-limit.sh --records LIMIT -- load-shedding-server ...`: a cgroup \
            made for it (v2 memory.max, else v1 memory.limit_in_bytes; root needed), removed afterwards. The \
            server keeps 1 MiB of GC heap per accepted session; sessions end after --session-ms. "Allowed" is \
            what a server that knew its memory exactly would accept. Without root or a memory controller, it \
            says so and exits 0.
            """)

    @Option(help: "The cgroup memory limit (bytes, or with K, M, G).")
    var limit = "200M"

    @Option(help: "Runs of each variant.")
    var runs = 5

    @Option(
        help: ArgumentHelp("monitor, none, heap-share (comma-separated; default: all).", valueName: "list"),
        transform: { text in
            try text.split(separator: ",").map { word in
                guard let variant = Variant(rawValue: String(word)) else {
                    throw ValidationError("unknown variant \(word): monitor, none or heap-share")
                }
                return variant
            }
        })
    var variants: [Variant] = Variant.allCases

    @Option(help: "Requests per run (one arrives every --interval-us).")
    var requests = 3000

    @Option(name: .customLong("interval-us"), help: "Microseconds between requests.")
    var intervalMicroseconds = 2000

    @Option(name: .customLong("session-ms"), help: "How long a session stays open, in milliseconds.")
    var sessionMilliseconds = 1000

    @Flag(help: "A quick run for CI: 128M limit, one run each, 400 requests, sessions of 300 ms.")
    var tiny = false

    @Option(help: "Write the runs as JSON to this path.")
    var json: String?

    @Option(help: ArgumentHelp("The script that makes the group.", valueName: "path"))
    var script: String?

    mutating func run() async throws {
        if tiny {
            limit = "128M"
            runs = 1
            requests = 400
            sessionMilliseconds = 300
        }
        let scriptPath =
            script
            ?? [
                "scripts/under-memory-limit.sh",
                String(#filePath.dropLast("Benchmarks/LoadShedding/LoadShedding.swift".count))
                    + "scripts/under-memory-limit.sh",
            ].first(where: fileExists)
        guard let scriptPath, let bash = await findOnPath("bash") else {
            printError("load-shedding: scripts/under-memory-limit.sh or bash is missing (--script PATH)")
            throw ExitCode.failure
        }
        if let problem = await runTool([bash, scriptPath, "--check"]) {
            // The script said why on standard error.
            print("load-shedding: skipped, no memory cgroup can be made here (\(problem))")
            return
        }
        let server = try siblingExecutable("load-shedding-server")
        print(
            "load-shedding: \(requests) requests, one every \(intervalMicroseconds) µs, sessions of 1 MiB for"
                + " \(sessionMilliseconds) ms, under a \(limit) cgroup limit; \(runs) run(s) of each variant")
        print("command: bash \(scriptPath) \(limit) -- \(server) [--monitor none] [--heap-share-percent 75]")
        var results: [Run] = []
        for variant in variants {
            for number in 1...runs {
                let output = await runChild(
                    [bash, scriptPath, "--records", limit, "--", server] + variant.serverArguments + [
                        "--requests", "\(requests)", "--interval-us", "\(intervalMicroseconds)",
                        "--session-ms", "\(sessionMilliseconds)", "--progress-ms", "100000",
                    ], quietStandardError: true, timeLimit: .seconds(300))
                let fields = output.fields
                func int(_ key: String) -> Int? { fields[key].flatMap { Int($0) } }
                let run = Run(
                    variant: variant.rawValue, exitStatus: int("status") ?? -1, oomKills: int("oom_kills") ?? -1,
                    accepted: int("accepted"), refused: int("refused"), refusedOutOfMemory: int("refused_oom"),
                    allowed: int("allowed"), limitBytes: int("limit_bytes") ?? -1,
                    groupPeakBytes: int("peak_bytes") ?? -1, peakRSSBytes: int("peak_rss_bytes"),
                    levelChanges: int("level_changes"), notices: int("notices"))
                results.append(run)
                print(
                    "  \(variant.rawValue) run \(number): exit \(run.exitStatus), OOM kills \(run.oomKills),"
                        + " accepted \(run.accepted.map(String.init) ?? "-") of \(run.allowed.map(String.init) ?? "-")"
                        + " allowed, group peak \(mebibytes(run.groupPeakBytes))")
            }
        }
        report(results)
        if let json { try writeJSON(results, to: json) }
    }

    func report(_ results: [Run]) {
        print("")
        print(
            pad("variant", 34, left: true) + pad("runs", 5) + pad("OOM-killed", 11) + pad("accepted", 10)
                + pad("refused", 9) + pad("allowed", 9) + pad("accepted/allowed", 18) + pad("group peak/limit", 18)
                + pad("peak RSS", 11))
        for variant in variants {
            let runs = results.filter { $0.variant == variant.rawValue }
            guard !runs.isEmpty else { continue }
            let killed = runs.filter { $0.oomKills > 0 || $0.exitStatus == 137 }.count
            func medianOf(_ values: [Int?]) -> String {
                let present = values.compactMap { $0 }.map(Double.init)
                return present.isEmpty ? "-" : fixed(median(present), 0)
            }
            let shares = runs.compactMap(\.share)
            let peaks = runs.filter { $0.limitBytes > 0 && $0.groupPeakBytes >= 0 }
                .map { Double($0.groupPeakBytes) / Double($0.limitBytes) }
            let rss = runs.compactMap(\.peakRSSBytes).map(Double.init)
            print(
                pad(variant.title, 34, left: true) + pad("\(runs.count)", 5) + pad("\(killed)", 11)
                    + pad(medianOf(runs.map(\.accepted)), 10) + pad(medianOf(runs.map(\.refused)), 9)
                    + pad(medianOf(runs.map(\.allowed)), 9)
                    + pad(
                        shares.isEmpty
                            ? "-" : "\(fixed(100 * median(shares), 0)) % (min \(fixed(100 * (shares.min() ?? 0), 0)))",
                        18)
                    + pad(peaks.isEmpty ? "-" : "\(fixed(100 * median(peaks), 0)) %", 18)
                    + pad(rss.isEmpty ? "-" : mebibytes(Int(median(rss))), 11))
        }
        print("(medians over the runs; accepted and allowed of the runs that finished; peaks of the group, page cache")
        print(" included, from memory.max_usage_in_bytes or memory.peak)")
    }
}

func mebibytes(_ bytes: Int) -> String { bytes < 0 ? "-" : fixed(Double(bytes) / 1_048_576, 1) + " MiB" }
