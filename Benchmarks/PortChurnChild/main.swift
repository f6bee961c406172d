// port-churn-child: one configuration of port-churn, in a process of its own
// (so RSS and peak RSS are its own), started by the port-churn driver:
//
//   port-churn-child CONFIG [--ballast MB] [--duration S] [--iterations N] [--sample-ms MS]
//                    [--max-rss MB] [--port string|file] [--converters pooled|per-port]
//                    [--collections full|generational] [--full-every N] [--policy SPELLING]
//
// It reports on standard output, one record per line (BenchmarkSupport's
// ChildRecord; the Guile peer writes the same records):
//
//     sample PORTS SECONDS RSS-BYTES
//     result ports=N seconds=S gc_count=N heap_size=B peak_rss=B table_capacity=N ...
//     error MESSAGE
//
// Beside the RSS figures, the result carries what the soak's ceiling is
// computed from: the collections' mean pause during the churn
// (`pause_ms_mean`, from GC.statistics), the bytes a port holds after its
// write, before it is dropped (`bytes_per_port`: the foreign bytes it
// reports and its GC memory, its record and GC object; the mean over every
// 64th port), the accounting's byte budget between collections
// (`byte_budget`, the mean over the samples; absent when the trigger has no
// byte rule), and the open-ports table's vacuum (`vacuum_ns`,
// `entries_vacuumed`: the table's own work). After every other figure is
// read, a batch of ports is dropped and released, timed (`release_ns`,
// `released`): the vacuum and each port's release.
//
// Lean on purpose: no Foundation, no swift-argument-parser (their pages
// would count in its RSS, their writable data in every collection's roots).
import BenchmarkSupport
import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

struct RunError: Error, CustomStringConvertible {
    var description: String
    /// Set when the run may stop here and still report (a resource limit
    /// reached by a leaking configuration): the `stopped` field's value.
    var stopReason: String?

    init(_ description: String, stopReason: String? = nil) {
        self.description = description
        self.stopReason = stopReason
    }
}

/// What the driver asked for.
struct Run {
    var config: ChurnConfig
    var ballastMB: Int
    /// Seconds; 0 for no time limit.
    var duration: Double
    /// Ports; 0 for no limit.
    var iterations: Int
    var sampleMilliseconds: Int
    var maxRSSBytes: Int
    var portKind: String
    var sharedConverters: Bool
    var generational: Bool
    /// Partial collections between full ones in generational mode (nil:
    /// the library's default).
    var fullEvery: Int?
    /// A trigger policy spelling, for the policy table.
    var policy: String?

    init(_ arguments: ChildArguments) throws {
        guard let name = arguments.positional.first, let config = ChurnConfig(rawValue: name) else {
            throw RunError("unknown configuration \(arguments.positional.first ?? "(none)")")
        }
        self.config = config
        ballastMB = try arguments.int("ballast", 0, minimum: 0)
        duration = try arguments.double("duration", 0)
        iterations = try arguments.int("iterations", 0, minimum: 0)
        sampleMilliseconds = try arguments.int("sample-ms", 100)
        maxRSSBytes = try arguments.int("max-rss", 4096) << 20
        portKind = arguments.string("port") ?? "string"
        sharedConverters = (arguments.string("converters") ?? "pooled") == "pooled"
        generational = (arguments.string("collections") ?? "full") == "generational"
        let fullEvery = try arguments.int("full-every", 0, minimum: 0)
        self.fullEvery = fullEvery > 0 ? fullEvery : nil
        policy = arguments.string("policy")
    }
}

func churn(_ run: Run) throws {
    // Process-wide settings first: they are sealed by the first use.
    var churner = try PortChurner(
        config: run.config, policy: run.policy, portKind: run.portKind, sharedConverters: run.sharedConverters,
        generational: run.generational, fullEvery: run.fullEvery)
    let ballast: Ballast
    do {
        // 16-byte cells, the size of a Guile pair, so the collector marks the
        // same kind of heap as in the Guile peer's ballast.
        ballast = try Ballast(megabytes: run.ballastMB, objectBytes: 16, requestBytes: 15)
    } catch {
        throw RunError("cannot allocate the \(run.ballastMB) MB ballast: \(error)")
    }
    _ = residentBytes()  // opens /proc/self/status before the churn takes descriptors
    let before = GC.statistics
    let start = monotonicSeconds()
    let deadline = run.duration > 0 ? start + run.duration : .infinity
    let limit = run.iterations > 0 ? run.iterations : Int.max
    let sampleInterval = Double(run.sampleMilliseconds) / 1000
    let collectEveryPort = run.config == .gcEvery
    // Check the clock every 64 ports (every port when each one collects).
    let clockMask = collectEveryPort ? 0 : 63
    var nextSample = start + sampleInterval
    var ports = 0
    emitSample(ports: 0, seconds: 0)
    var stopReason: String?
    // Bytes a port holds when dropped, read every 64th port; the byte
    // budget, read at every sample.
    var heldBytes = 0
    var heldPorts = 0
    var budgetBytes = 0
    var budgetSamples = 0
    func sampleBudget() {
        guard let budget = ForeignMemory.statistics.byteBudget else { return }
        budgetBytes += budget
        budgetSamples += 1
    }
    sampleBudget()
    while ports < limit {
        do {
            let measure = ports & 63 == 0
            let held = try churner.churnOne(measure: measure)
            if measure {
                heldBytes += held
                heldPorts += 1
            }
        } catch {
            // A leaking configuration that runs out of descriptors ends
            // its run there and reports it.
            guard let reason = error.stopReason else { throw error }
            stopReason = reason
            break
        }
        if collectEveryPort { GC.collect() }
        ports += 1
        if ports & clockMask == 0 {
            let now = monotonicSeconds()
            if now >= deadline { break }
            if now >= nextSample {
                let rss = emitSample(ports: ports, seconds: now - start)
                sampleBudget()
                nextSample = now + sampleInterval
                if rss > run.maxRSSBytes {
                    stopReason = "rss_limit"
                    break
                }
            }
        }
    }
    let seconds = monotonicSeconds() - start
    emitSample(ports: ports, seconds: seconds)
    let gcStatistics = GC.statistics
    let portStatistics = churner.statistics
    let collections = gcStatistics.collections - before.collections
    let pause = gcStatistics.totalPause - before.totalPause
    var fields: [(key: String, value: String)] = [
        ("ports", String(ports)),
        ("seconds", String(seconds)),
        ("gc_count", String(collections)),
        ("heap_size", String(gcStatistics.heapSize)),
        ("peak_rss", String(residentBytes().peak)),
        ("table_capacity", String(portStatistics.tableCapacity)),
        ("table_live", String(portStatistics.tableLive)),
        ("foreign_live", String(portStatistics.foreignLiveBytes)),
        ("gc_pause_total_ms", fixed(pause.milliseconds, 3)),
        ("collections_requested", String(portStatistics.collectionsRequested)),
        ("table_dead", String(portStatistics.tableDeadAwaitingVacuum)),
        ("vacuums", String(portStatistics.vacuums)),
        ("vacuum_ns", String(Int(portStatistics.vacuumTime.nanoseconds))),
        ("entries_vacuumed", String(portStatistics.entriesVacuumed)),
        ("table_resizes", String(portStatistics.tableResizes)),
    ]
    if collections > 0 { fields.append(("pause_ms_mean", fixed(pause.milliseconds / Double(collections), 4))) }
    if heldPorts > 0 { fields.append(("bytes_per_port", fixed(Double(heldBytes) / Double(heldPorts), 1))) }
    if budgetSamples > 0 { fields.append(("byte_budget", String(budgetBytes / budgetSamples))) }
    if let policy = run.policy { fields.append(("policy", policy)) }
    if let stopReason { fields.append(("stopped", stopReason)) }
    if run.config != .closed && run.config != .closedRaw {
        if let release = try churner.measureRelease() {
            fields += [("release_ns", String(Int(release.nanoseconds))), ("released", String(release.ports))]
        }
    }
    ChildRecord.result(fields).emit()
    withExtendedLifetime(ballast) {}
}

/// Emits a sample; returns the RSS.
@discardableResult
func emitSample(ports: Int, seconds: Double) -> Int {
    let rss = residentBytes().current
    ChildRecord.sample(Sample(ports: ports, seconds: seconds, rssBytes: rss)).emit()
    return rss
}

do {
    try churn(try Run(try ChildArguments(flags: [])))
    exit(0)
} catch {
    ChildRecord.error("\(error)").emit()
    exit(error is RunError ? 1 : 2)
}
