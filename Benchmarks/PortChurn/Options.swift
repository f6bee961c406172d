#if canImport(Glibc)
    import Glibc
#endif

/// One churn configuration of the Swift side (issue 5).
enum ChurnConfig: String, CaseIterable, Sendable {
    /// Lazy vacuum of the open-ports table, no foreign-memory accounting: the old leak.
    case lazy
    /// Eager vacuum (after every collection) only.
    case eager
    /// Accounting only (lazy vacuum).
    case accounted
    /// Eager vacuum and accounting: the library's defaults.
    case both
    /// A forced collection every iteration: the old workaround.
    case gcEvery = "gc-every"
    /// Every port closed by hand: the floor.
    case closed
    /// Every port closed by hand and the foreign-memory trigger off: the
    /// floor without the collections the accounting asks for (not in the
    /// default set).
    case closedRaw = "closed-raw"

    /// The configurations of issue 5, run by default.
    static let defaults: [ChurnConfig] = [.lazy, .eager, .accounted, .both, .gcEvery, .closed]
}

/// The foreign-memory trigger policies of issue 6 by their short names; any
/// other `--policy` item is passed as written to
/// `ExternalMemory.TriggerPolicy(argument:)` (e.g. `count:500`, `interval:5ms`).
enum TriggerPolicyShorthand {
    /// Short name and full spelling, in the order of the policy table.
    /// `count` fires every 1,000 ports (~33 MB of iconv handles, about
    /// half the 64 MB ballast); `time` at most every 50 ms, about the cost
    /// of one full collection of the 64 MB ballast, so collections take at
    /// most about half the time.
    static let all: [(name: String, argument: String)] = [
        ("bytes", "bytes"),
        ("count", "count:1000"),
        ("time", "interval:50ms"),
        ("either", "either:count:1000,interval:50ms"),
    ]

    static func expand(_ item: String) -> String {
        all.first { $0.name == item }?.argument ?? item
    }
}

/// What the Guile peer runs, per ballast.
struct PeerRun: Hashable, Sendable {
    /// `dropped`, `closed` or `gc-every`.
    var mode: String
    /// `string` or `file`.
    var portKind: String
    var name: String { "guile-\(portKind)-\(mode)" }
}

enum PeerChoice: String, Sendable {
    /// Run Guile when `guile-3.0` is on the PATH, else say why not and go on.
    case auto
    case guile
    case none
}

/// Command-line options of `port-churn`.
struct Options: Sendable {
    var configs: [ChurnConfig] = ChurnConfig.defaults
    var ballasts: [Int] = [0, 64]
    /// Seconds per configuration; `nil` means derived from `totalSeconds`.
    var duration: Double?
    /// Ports per configuration (0: no limit, stop on time).
    var iterations: Int = 0
    /// Budget of the whole default run, spread over the configurations.
    var totalSeconds: Double = 120
    var sampleMilliseconds: Int = 100
    /// The Swift side's port kind: `string` (in memory) or `file` (on /dev/null).
    var portKind: String = "string"
    /// Ports get pooled converters (GCPorts' `converters: .pooled`, the
    /// library's default) instead of one per port (`.perPort`, this
    /// benchmark's default: the configuration its published figures were
    /// measured with).
    var sharedConverters = false
    /// A run stops early when its RSS passes this many MB (a leaking
    /// configuration must not take the machine down).
    var maxRSSMegabytes: Int = 4096
    var peer: PeerChoice = .auto
    var peerRuns: [PeerRun] = [
        PeerRun(mode: "dropped", portKind: "string"),
        PeerRun(mode: "closed", portKind: "string"),
        PeerRun(mode: "dropped", portKind: "file"),
    ]
    /// Trigger policies (full spellings) for the policy table (issue 6);
    /// empty: no policy table.
    var policies: [String] = []
    var jsonPath: String?
    var csvPath: String? = "bench-out/port-churn.csv"
    var plotPath: String? = "bench-out/port-churn.png"
    var guileScript: String?
    /// Redraw the plot from a CSV this benchmark wrote, without running.
    var plotFrom: String?
    var tiny = false
    /// Child mode: the configuration to run in this process.
    var runOne: String?
    /// Child mode: the trigger policy of this process (a full spelling).
    var runPolicy: String?

    static let usage = """
        usage: port-churn [options]

        Churns iconv-transcoding output ports (ISO-8859-15): each iteration opens a port,
        writes a short line and drops it unclosed (except in `closed`). Every configuration
        runs in its own child process, so RSS and peak RSS are its own.

          --configs LIST      lazy,eager,accounted,both,gc-every,closed (the default), and
                              closed-raw (closed, foreign-memory trigger off); `none` runs
                              only the Guile peer
          --ballast LIST      live GC heap in MB kept during the churn (default: 0,64)
          --duration SECONDS  seconds per configuration (default: about 120 s for the
                              whole run, spread over the configurations, 3 to 10 s each)
          --iterations N      ports per configuration; with --duration, whichever comes
                              first; alone, no time limit
          --port string|file  the ports the Swift side churns: string ports, or file ports
                              on /dev/null, each with its own descriptor (default string)
          --shared-converters ports borrow a pooled iconv converter per write instead of owning
                              one (GCPorts' converters: .pooled, the library's default; without
                              it .perPort, the configuration of the published figures)
          --sample-ms MS      RSS sampling interval (default 100)
          --max-rss MB        stop a run early when its RSS passes this (default 4096)
          --peer guile|none   also run the churn in Guile 3.0 (default: when guile-3.0
                              is installed)
          --peer-runs LIST    Guile runs as KIND-MODE, KIND string|file, MODE
                              dropped|closed|gc-every
                              (default: string-dropped,string-closed,file-dropped)
          --policy LIST       bytes,count,time,either or all: also run `both` under each
                              foreign-memory trigger policy and print the policy table
                              (wall time per port relative to `closed`, peak RSS,
                              collections). Items may also be full spellings separated
                              by `;`: count:500;interval:5ms;either:count:500,interval:5ms
          --json PATH         write the summary as JSON
          --csv PATH          RSS time series (default bench-out/port-churn.csv; `none` to skip)
          --plot PATH         PNG of RSS against ports, with gnuplot (default
                              bench-out/port-churn.png; `none` to skip)
          --plot-from CSV     only redraw the plot (--plot PATH) from a CSV written before
          --guile-script PATH the Guile peer (default: Benchmarks/guile/port-churn.scm)
          --tiny              seconds in all: 0.3 s per configuration, ballast 0 and 4 MB, no peer
          -h, --help          this text
        """

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var explicitBallast = false
        var explicitPeer = false
        var index = 0
        func value(_ flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError("\(flag) needs a value") }
            return arguments[index]
        }
        func list(_ text: String) -> [String] {
            text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "-h", "--help":
                throw UsageError(nil)
            case "--configs":
                var configs: [ChurnConfig] = []
                for name in list(try value(flag)) where name != "none" {
                    guard let config = ChurnConfig(rawValue: name) else {
                        throw UsageError("unknown configuration \(name)")
                    }
                    configs.append(config)
                }
                options.configs = configs
            case "--ballast":
                var ballasts: [Int] = []
                for item in list(try value(flag)) {
                    guard let mb = Int(item), mb >= 0 else { throw UsageError("bad ballast \(item)") }
                    ballasts.append(mb)
                }
                options.ballasts = ballasts
                explicitBallast = true
            case "--duration":
                let text = try value(flag)
                guard let seconds = Double(text), seconds > 0 else { throw UsageError("bad duration \(text)") }
                options.duration = seconds
            case "--iterations":
                let text = try value(flag)
                guard let count = Int(text), count > 0 else { throw UsageError("bad iterations \(text)") }
                options.iterations = count
            case "--sample-ms":
                let text = try value(flag)
                guard let ms = Int(text), ms > 0 else { throw UsageError("bad sample interval \(text)") }
                options.sampleMilliseconds = ms
            case "--port":
                let text = try value(flag)
                guard ["string", "file"].contains(text) else { throw UsageError("bad port kind \(text)") }
                options.portKind = text
            case "--shared-converters":
                options.sharedConverters = true
            case "--max-rss":
                let text = try value(flag)
                guard let mb = Int(text), mb > 0 else { throw UsageError("bad RSS limit \(text)") }
                options.maxRSSMegabytes = mb
            case "--peer":
                let text = try value(flag)
                guard let peer = PeerChoice(rawValue: text) else { throw UsageError("bad peer \(text)") }
                options.peer = peer
                explicitPeer = true
            case "--peer-runs":
                var runs: [PeerRun] = []
                for item in list(try value(flag)) {
                    let parts = item.split(separator: "-", maxSplits: 1).map(String.init)
                    guard parts.count == 2, ["string", "file"].contains(parts[0]),
                        ["dropped", "closed", "gc-every"].contains(parts[1])
                    else { throw UsageError("bad peer run \(item)") }
                    runs.append(PeerRun(mode: parts[1], portKind: parts[0]))
                }
                options.peerRuns = runs
            case "--policy":
                let text = try value(flag)
                options.policies =
                    text == "all"
                    ? TriggerPolicyShorthand.all.map(\.argument)
                    : splitPolicies(text).map(TriggerPolicyShorthand.expand)
            case "--json":
                options.jsonPath = try value(flag)
            case "--csv":
                let path = try value(flag)
                options.csvPath = path == "none" ? nil : path
            case "--plot":
                let path = try value(flag)
                options.plotPath = path == "none" ? nil : path
            case "--plot-from":
                options.plotFrom = try value(flag)
            case "--guile-script":
                options.guileScript = try value(flag)
            case "--tiny":
                options.tiny = true
            case "--run-one":
                options.runOne = try value(flag)
            case "--run-policy":
                options.runPolicy = try value(flag)
            default:
                throw UsageError("unknown option \(flag)")
            }
            index += 1
        }
        if options.tiny {
            if options.duration == nil { options.duration = 0.3 }
            if !explicitBallast { options.ballasts = [0, 4] }
            if !explicitPeer { options.peer = .none }
        }
        return options
    }

    /// Seconds per run when `--duration` is not given: the default run takes
    /// about `totalSeconds` in all.
    func secondsPerRun(runCount: Int) -> Double {
        if let duration { return duration }
        if iterations > 0 { return 0 }  // iterations alone: no time limit
        return min(10, max(3, totalSeconds / Double(max(1, runCount))))
    }
}

/// Splits a `--policy` list: on `;` when present (full spellings contain
/// commas), otherwise on commas.
private func splitPolicies(_ text: String) -> [String] {
    let separator: Character = text.contains(";") ? ";" : ","
    return text.split(separator: separator).map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
}

struct UsageError: Error {
    /// `nil` for `--help`.
    var message: String?
    init(_ message: String?) { self.message = message }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
