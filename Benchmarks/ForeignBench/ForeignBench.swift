// foreign-bench: the figures behind the foreign-memory choices of BoehmGC and
// GCPorts (README, "Foreign memory and ports").
//
// Two experiments, each at 0 and 64 MiB of live GC heap (a chain of 1 KiB
// scanned objects):
// - accounting: a loop that opens an ISO-8859-15 string port, writes a line
//   and drops it, under each trigger policy, with the collection run inline
//   (in the accounting call) or on a background thread; `closed` (the port is
//   closed each iteration) is the baseline, `gc-every` (a collection every
//   iteration) the floor of Guile's small-heap behaviour; `shared` and
//   `shared-never` borrow pooled converters (Ports.Configuration.converters
//   .pooled; the others .perPort)
//   with the default policy and with accounting off.
// - release: a ForeignResource owning an iconv_t, dropped each iteration,
//   released by a libgc finalizer or by a weak-table registry vacuum.
// Each configuration runs in a child process of its own (foreign-bench-child),
// so settings and peak RSS (VmHWM) are its own.
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport

@main
struct ForeignBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "foreign-bench",
        abstract: "Foreign-memory trigger policies and release paths, each configuration in a child process.")

    enum Experiment: String, ExpressibleByArgument, CaseIterable {
        case accounting, release
    }

    @Flag(help: "The CI size: 2,000 iterations or 0.5 s per configuration, live heaps of 0 and 8 MiB.")
    var tiny = false

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    @Option(help: "Run one experiment only.")
    var only: Experiment?

    @Option(help: "Seconds per configuration at most.")
    var seconds = 6.0

    /// One child run.
    struct Config {
        var experiment: Experiment
        /// closed, never, gc-every, shared, shared-never, background, or a
        /// trigger policy spelling.
        var trigger: String
        /// registry or finalizer (release experiment).
        var release = "registry"
        var ballastMB: Int
        var iterations: Int

        var name: String { experiment == .release ? "\(release)/\(trigger)" : trigger }
    }

    /// A row of the JSON file: the configuration, then the child's figures.
    struct Row: Encodable {
        var experiment: String
        var config: String
        var ballastMB: Int
        var iterations, itPerSec, peakRSSMiB, collections, requested, liveForeignMiBAtEnd: Int?
        var heapMiB, maxPauseMs, totalPauseMs, maxIterationMs, foreignBytesPerObject: Int?

        init(_ config: Config, _ fields: [String: String]) {
            func figure(_ key: String) -> Int? { fields[key].flatMap { Int($0) } }
            (experiment, self.config, ballastMB) = (config.experiment.rawValue, config.name, config.ballastMB)
            (iterations, itPerSec, peakRSSMiB) = (figure("iterations"), figure("itPerSec"), figure("peakRSSMiB"))
            (collections, requested) = (figure("collections"), figure("requested"))
            (liveForeignMiBAtEnd, heapMiB) = (figure("liveForeignMiBAtEnd"), figure("heapMiB"))
            (maxPauseMs, totalPauseMs) = (figure("maxPauseMs"), figure("totalPauseMs"))
            (maxIterationMs, foreignBytesPerObject) = (figure("maxIterationMs"), figure("foreignBytesPerObject"))
        }
    }

    mutating func run() async throws {
        if tiny { seconds = 0.5 }
        let child = try siblingExecutable("foreign-bench-child")
        var configs: [Config] = []
        for ballast in tiny ? [0, 8] : [0, 64] {
            let iterations = tiny ? 2_000 : (ballast == 0 ? 400_000 : 150_000)
            if only == nil || only == .accounting {
                for trigger in [
                    "closed", "never", "gc-every", "bytes", "background", "bytes:0:1", "bytes:0:0.125",
                    "bytes:32m:0.333", "count:250", "interval:10ms", "either:count:250,interval:10ms", "shared",
                    "shared-never",
                ] {
                    configs.append(
                        Config(experiment: .accounting, trigger: trigger, ballastMB: ballast, iterations: iterations))
                }
            }
            if only == nil || only == .release {
                for trigger in ["never", "bytes"] {
                    for release in ["finalizer", "registry"] {
                        configs.append(
                            Config(
                                experiment: .release, trigger: trigger, release: release, ballastMB: ballast,
                                iterations: iterations))
                    }
                }
            }
        }

        let columns = [
            "itPerSec", "peakRSSMiB", "collections", "requested", "liveForeignMiBAtEnd", "maxPauseMs",
            "maxIterationMs",
        ]
        let headers = [
            "it/s", "peak RSS MiB", "collections", "requested", "foreign MiB end", "max pause ms", "max iter ms",
        ]
        print(
            pad("experiment", 11, left: true) + pad("ballast", 8, left: true) + pad("config", 32, left: true)
                + headers.map { pad($0, 16) }.joined() + pad("vs closed", 11))
        var rows: [Row] = []
        var closedRate: [Int: Double] = [:]
        for config in configs {
            let output = await runChild([
                child, "--experiment", config.experiment.rawValue, "--trigger", config.trigger, "--release",
                config.release, "--ballast", "\(config.ballastMB)", "--iterations", "\(config.iterations)",
                "--seconds", "\(seconds)",
            ])
            let rate = Double(output.fields["itPerSec"] ?? "0") ?? 0
            if config.experiment == .accounting && config.trigger == "closed" { closedRate[config.ballastMB] = rate }
            let ratio = closedRate[config.ballastMB].map { $0 > 0 ? fixed(rate / $0, 3) : "-" } ?? "-"
            print(
                pad(config.experiment.rawValue, 11, left: true) + pad("\(config.ballastMB) MiB", 8, left: true)
                    + pad(config.name, 32, left: true) + columns.map { pad(output.fields[$0] ?? "?", 16) }.joined()
                    + pad(ratio, 11) + (output.error.map { "  failed: \($0)" } ?? ""))
            rows.append(Row(config, output.fields))
        }
        if let json {
            try writeJSON(rows, to: json)
            print("wrote \(json)")
        }
    }
}
