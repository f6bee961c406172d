// foreign-bench: the figures behind the foreign-memory choices of BoehmGC and
// GCPorts (README, "Foreign memory and ports").
//
//   swift run -c release foreign-bench                 # ~3 minutes
//   swift run -c release foreign-bench --tiny          # CI: seconds
//   swift run -c release foreign-bench --json out.json --only release
//
// Two experiments, each at 0 and 64 MiB of live GC heap (a chain of 1 KiB
// scanned objects):
// - accounting: a loop that opens an ISO-8859-15 string port, writes a line
//   and drops it, under each trigger policy, with the collection run inline
//   (in the accounting call) or on a background thread; `closed` (the port is
//   closed each iteration) is the baseline, `gc-every` (a collection every
//   iteration) the floor of Guile's small-heap behaviour; `shared` and
//   `shared-never` borrow pooled converters (Ports.Configuration.sharesConverters)
//   with the default policy and with accounting off.
// - release: a ForeignResource owning an iconv_t, dropped each iteration,
//   released by a libgc finalizer or by a weak-table registry vacuum.
// Each configuration runs in a child process of its own (this binary with
// --run-one), so settings and peak RSS (VmHWM) are its own.
import BenchmarkSupport
import BoehmGC
import GCPorts

#if canImport(Glibc)
    import Glibc
#endif

struct Config {
    var experiment: String  // "accounting" or "release"
    var trigger: String  // closed, never, gc-every, or a policy argument, or "background"
    var release: String  // registry or finalizer (release experiment)
    var ballastMB: Int
    var iterations: Int
    var seconds: Double

    var name: String { experiment == "release" ? "\(release)/\(trigger)" : trigger }
    var encoded: String {
        [experiment, trigger, release, "\(ballastMB)", "\(iterations)", "\(seconds)"].joined(separator: ";")
    }

    init(
        experiment: String, trigger: String, release: String = "registry", ballastMB: Int, iterations: Int,
        seconds: Double
    ) {
        self.experiment = experiment
        self.trigger = trigger
        self.release = release
        self.ballastMB = ballastMB
        self.iterations = iterations
        self.seconds = seconds
    }

    init?(encoded: String) {
        let f = encoded.split(separator: ";").map(String.init)
        guard f.count == 6, let b = Int(f[3]), let n = Int(f[4]), let s = Double(f[5]) else { return nil }
        self.init(experiment: f[0], trigger: f[1], release: f[2], ballastMB: b, iterations: n, seconds: s)
    }
}

// MARK: Child

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func peakRSSKiB() -> Int {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 8192)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8192) }
    guard n > 0 else { return 0 }
    let text = String(decoding: bytes[..<n], as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

func makeBallast(megabytes: Int) -> GCRoot? {
    var head: GCRoot? = nil
    for _ in 0..<(megabytes * 1024) {
        let node = try! GCRoot(byteCount: 1024)
        node.setReference(head, at: 0)
        head = node
    }
    return head
}

struct Converter: @unchecked Sendable {
    // Owned by its ForeignResource; closed once by the close function.
    let handle: iconv_t
}

func policy(for trigger: String) -> (ExternalMemory.TriggerPolicy, ExternalMemory.CollectionMode) {
    switch trigger {
    case "closed", "never", "gc-every", "shared-never": return (.never, .inline)
    case "shared": return (.default, .inline)
    case "background": return (.default, .backgroundThread)
    default:
        guard let policy = ExternalMemory.TriggerPolicy(argument: trigger) else {
            fatalError("unknown trigger \(trigger)")
        }
        return (policy, .inline)
    }
}

/// One iteration of the accounting experiment: a string port, one line, dropped.
@inline(never)
func portIteration(close: Bool) {
    let port = try! OutputPort.openString(encoding: "ISO-8859-15")
    try! port.write("a line of text, 10 €\n")
    if close { try! port.close() }
}

/// One iteration of the release experiment.
@inline(never)
func resourceIteration(release: ForeignResource<Converter>.Release, size: Int, close: Bool) {
    let resource = try! ForeignResource<Converter>(
        byteCount: size, release: release,
        open: { Converter(handle: iconv_open("ISO-8859-15", "UTF-8")) },
        close: { iconv_close($0.handle) })
    if close { resource.close() }
}

func runOne(_ config: Config) -> Never {
    let (policy, mode) = policy(for: config.trigger)
    try! ExternalMemory.configure(.init(policy: policy, collectionMode: mode))
    if config.trigger.hasPrefix("shared") { try! Ports.configure(.init(sharesConverters: true)) }
    GC.initialize()
    let ballast = makeBallast(megabytes: config.ballastMB)
    GC.collect()
    let registry = try! ForeignResourceRegistry(vacuum: .eager)
    let release: ForeignResource<Converter>.Release = config.release == "finalizer" ? .finalizer : .registry(registry)
    let size = ForeignResource<Converter>.measure {
        Converter(handle: iconv_open("ISO-8859-15", "UTF-8"))
    } close: {
        iconv_close($0.handle)
    }
    // Warm up (first iconv_open loads the module, first port creates the table).
    portIteration(close: true)
    let closeEach = config.trigger == "closed"
    let gcEvery = config.trigger == "gc-every"
    let startStats = GC.statistics
    let deadline = now() + UInt64(config.seconds * 1e9)
    let start = now()
    var done = 0
    var maxIteration: UInt64 = 0
    while done < config.iterations {
        let t0 = now()
        if config.experiment == "release" {
            resourceIteration(release: release, size: size, close: closeEach)
        } else {
            portIteration(close: closeEach)
        }
        if gcEvery { GC.collect() }
        let t1 = now()
        maxIteration = max(maxIteration, t1 - t0)
        done += 1
        if done & 63 == 0 && t1 > deadline { break }
    }
    let elapsed = Double(now() - start) / 1e9
    let end = GC.statistics
    let foreign = ExternalMemory.statistics
    let ms = { (d: Duration) -> Double in
        Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
    }
    let fields: [(String, String)] = [
        ("iterations", "\(done)"),
        ("itPerSec", String(Int(Double(done) / elapsed))),
        ("peakRSSMiB", "\(peakRSSKiB() / 1024)"),
        ("collections", "\(end.collections - startStats.collections)"),
        ("requested", "\(foreign.collectionsRequested)"),
        ("liveForeignMiBAtEnd", "\(foreign.liveBytes >> 20)"),
        ("heapMiB", "\(end.heapSize >> 20)"),
        ("maxPauseMs", String(Int(ms(end.maxPause).rounded()))),
        ("totalPauseMs", String(Int(ms(end.totalPause - startStats.totalPause).rounded()))),
        ("maxIterationMs", String(Int((Double(maxIteration) / 1e6).rounded()))),
        ("foreignBytesPerObject", "\(size)"),
    ]
    print("RESULT " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
    withExtendedLifetime(ballast) {}
    exit(0)
}

extension ForeignResource {
    /// Opens and closes one resource to measure its foreign bytes.
    static func measure(open: () -> Handle, close: @escaping @Sendable (Handle) -> Void) -> Int {
        let probe = try! ForeignResource(release: .finalizer, open: { open() }, close: close)
        // The first open may load modules; measure a second one.
        probe.close()
        let second = try! ForeignResource(release: .finalizer, open: { open() }, close: close)
        second.close()
        return second.byteCount
    }
}

// MARK: Parent

func spawnChild(_ config: Config) -> [String: String] {
    var pipeFDs: [Int32] = [0, 0]
    precondition(pipe(&pipeFDs) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
    posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
    let args = ["/proc/self/exe", "--run-one", config.encoded]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    var pid: pid_t = 0
    let status = posix_spawn(&pid, "/proc/self/exe", &actions, nil, &argv, environ)
    for p in argv { free(p) }
    posix_spawn_file_actions_destroy(&actions)
    close(pipeFDs[1])
    precondition(status == 0, "posix_spawn failed: \(status)")
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, 4096) }
        if n <= 0 { break }
        output.append(contentsOf: chunk[..<n])
    }
    close(pipeFDs[0])
    var exitStatus: Int32 = 0
    waitpid(pid, &exitStatus, 0)
    var result: [String: String] = [:]
    for line in String(decoding: output, as: UTF8.self).split(separator: "\n") where line.hasPrefix("RESULT ") {
        for field in line.dropFirst(7).split(separator: " ") {
            let kv = field.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { result[String(kv[0])] = String(kv[1]) }
        }
    }
    return result
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--run-one", arguments.count == 2, let config = Config(encoded: arguments[1]) {
    runOne(config)
}

var tiny = false
var jsonPath: String? = nil
var only: String? = nil
var seconds = 6.0
var index = 0
while index < arguments.count {
    switch arguments[index] {
    case "--tiny": tiny = true
    case "--json":
        index += 1
        jsonPath = arguments[index]
    case "--only":
        index += 1
        only = arguments[index]
    case "--seconds":
        index += 1
        seconds = Double(arguments[index]) ?? seconds
    default:
        print("usage: foreign-bench [--tiny] [--json PATH] [--only accounting|release] [--seconds S]")
        exit(2)
    }
    index += 1
}

let ballasts = tiny ? [0, 8] : [0, 64]
let iterationsFor = { (ballast: Int) -> Int in tiny ? 2_000 : (ballast == 0 ? 400_000 : 150_000) }
if tiny { seconds = 0.5 }
var configs: [Config] = []
for ballast in ballasts {
    if only == nil || only == "accounting" {
        for trigger in [
            "closed", "never", "gc-every", "bytes", "background", "bytes:0:1", "bytes:0:0.125", "bytes:32m:0.333",
            "count:250", "interval:10ms", "either:count:250,interval:10ms", "shared", "shared-never",
        ] {
            configs.append(
                Config(
                    experiment: "accounting", trigger: trigger, ballastMB: ballast,
                    iterations: iterationsFor(ballast), seconds: seconds))
        }
    }
    if only == nil || only == "release" {
        for trigger in ["never", "bytes"] {
            for release in ["finalizer", "registry"] {
                configs.append(
                    Config(
                        experiment: "release", trigger: trigger, release: release, ballastMB: ballast,
                        iterations: iterationsFor(ballast), seconds: seconds))
            }
        }
    }
}

let columns = [
    "itPerSec", "peakRSSMiB", "collections", "requested", "liveForeignMiBAtEnd", "maxPauseMs", "maxIterationMs",
]
let headers = ["it/s", "peak RSS MiB", "collections", "requested", "foreign MiB end", "max pause ms", "max iter ms"]
print(
    pad("experiment", 11) + pad("ballast", 8) + pad("config", 32) + headers.map { lpad($0, 16) }.joined()
        + lpad("vs closed", 11))
var json: [String] = []
var closedRate: [Int: Double] = [:]
for config in configs {
    let result = spawnChild(config)
    let rate = Double(result["itPerSec"] ?? "0") ?? 0
    if config.experiment == "accounting" && config.trigger == "closed" { closedRate[config.ballastMB] = rate }
    let ratio = closedRate[config.ballastMB].map { $0 > 0 ? String(format2(rate / $0)) : "-" } ?? "-"
    print(
        pad(config.experiment, 11) + pad("\(config.ballastMB) MiB", 8) + pad(config.name, 32)
            + columns.map { lpad(result[$0] ?? "?", 16) }.joined() + lpad(ratio, 11))
    let fields = result.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
    json.append(
        "{\"experiment\": \"\(config.experiment)\", \"config\": \"\(config.name)\", \"ballastMB\": \(config.ballastMB), \(fields)}"
    )
}

func format2(_ x: Double) -> String {
    let scaled = Int((x * 1000).rounded())
    let frac = scaled % 1000
    return "\(scaled / 1000)." + lpad("\(frac)", 3).replacingZeroPadding()
}

extension String {
    func replacingZeroPadding() -> String { String(map { $0 == " " ? "0" : $0 }) }
}

if let jsonPath {
    let text = "[\n  " + json.joined(separator: ",\n  ") + "\n]\n"
    let fd = open(jsonPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot write \(jsonPath)")
    _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    close(fd)
    print("wrote \(jsonPath)")
}
