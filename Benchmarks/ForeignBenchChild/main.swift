// foreign-bench-child: one configuration of foreign-bench, measured in a
// process of its own (so settings and peak RSS are its own), started by the
// foreign-bench driver:
//
//   foreign-bench-child --experiment accounting|release --trigger T [--release registry|finalizer]
//                       --ballast MB --iterations N --seconds S
//
// It reports one `result key=value ...` line (BenchmarkSupport's ChildRecord).
// Lean on purpose: no Foundation, no swift-argument-parser.
import BenchmarkSupport
import BoehmGC
import GCPorts

#if canImport(Glibc)
    import Glibc
#endif

struct Converter: @unchecked Sendable {
    // Owned by its ForeignResource; closed once by the close function.
    let handle: iconv_t
}

/// The trigger policy and collection mode of a `--trigger`: `closed`,
/// `never`, `gc-every`, `shared-never` (no accounting trigger), `shared`
/// (the default policy), `background` (the default policy, collections on a
/// background thread), or a policy spelling (`bytes:0:1`, `count:250`, ...).
func policy(for trigger: String) -> (ForeignMemory.TriggerPolicy, ForeignMemory.CollectionMode)? {
    switch trigger {
    case "closed", "never", "gc-every", "shared-never": return (.never, .inline)
    case "shared": return (.default, .inline)
    case "background": return (.default, .backgroundThread)
    default: return ForeignMemory.TriggerPolicy(argument: trigger).map { ($0, .inline) }
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

func run(_ arguments: ChildArguments) throws -> Int32 {
    let experiment = arguments.string("experiment") ?? "accounting"
    let trigger = arguments.string("trigger") ?? "bytes"
    guard let (policy, mode) = policy(for: trigger) else {
        ChildRecord.error("unknown trigger \(trigger)").emit()
        return 2
    }
    let ballastMB = try arguments.int("ballast", 0, minimum: 0)
    let iterations = try arguments.int("iterations", 1_000)
    let seconds = try arguments.double("seconds", 6)
    try ForeignMemory.configure(.init(policy: policy, collectionMode: mode))
    try Ports.configure(.init(converters: trigger.hasPrefix("shared") ? .pooled : .perPort))
    GC.initialize()
    // A chain of 1 KiB scanned objects.
    let ballast = try Ballast(megabytes: ballastMB, objectBytes: 1024, requestBytes: 1024)
    GC.collect()
    let registry = try ForeignResourceRegistry(vacuum: .eager)
    let release: ForeignResource<Converter>.Release =
        arguments.string("release") == "finalizer" ? .finalizer : .registry(registry)
    let size = ForeignResource<Converter>.measure {
        Converter(handle: iconv_open("ISO-8859-15", "UTF-8"))
    } close: {
        iconv_close($0.handle)
    }
    // Warm up (first iconv_open loads the module, first port creates the table).
    portIteration(close: true)
    let closeEach = trigger == "closed"
    let gcEvery = trigger == "gc-every"
    let startStats = GC.statistics
    let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
    let start = monotonicNanoseconds()
    var done = 0
    var maxIteration: UInt64 = 0
    while done < iterations {
        let t0 = monotonicNanoseconds()
        if experiment == "release" {
            resourceIteration(release: release, size: size, close: closeEach)
        } else {
            portIteration(close: closeEach)
        }
        if gcEvery { GC.collect() }
        let t1 = monotonicNanoseconds()
        maxIteration = max(maxIteration, t1 - t0)
        done += 1
        if done & 63 == 0 && t1 > deadline { break }
    }
    let elapsed = Double(monotonicNanoseconds() - start) / 1e9
    let end = GC.statistics
    let foreign = ForeignMemory.statistics
    ChildRecord.result([
        ("iterations", "\(done)"),
        ("itPerSec", String(Int(Double(done) / elapsed))),
        ("peakRSSMiB", "\(residentBytes().peak >> 20)"),
        ("collections", "\(end.collections - startStats.collections)"),
        ("requested", "\(foreign.collectionsRequested)"),
        ("liveForeignMiBAtEnd", "\(foreign.liveBytes >> 20)"),
        ("heapMiB", "\(end.heapSize >> 20)"),
        ("maxPauseMs", String(Int(end.maxPause.milliseconds.rounded()))),
        ("totalPauseMs", String(Int((end.totalPause - startStats.totalPause).milliseconds.rounded()))),
        ("maxIterationMs", String(Int((Double(maxIteration) / 1e6).rounded()))),
        ("foreignBytesPerObject", "\(size)"),
    ]).emit()
    withExtendedLifetime(ballast) {}
    return 0
}

do {
    exit(try run(ChildArguments()))
} catch {
    ChildRecord.error("\(error)").emit()
    exit(1)
}
