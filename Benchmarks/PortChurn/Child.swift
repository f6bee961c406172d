import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// The child process: runs one configuration and reports on standard output,
/// one record per line (the Guile peer writes the same records):
///
///     sample PORTS SECONDS RSS-BYTES
///     result ports=N seconds=S gc_count=N heap_size=B peak_rss=B table_capacity=N ...
///     error MESSAGE
enum Child {
    static func run(configName: String, options: Options) -> Int32 {
        guard let config = ChurnConfig(rawValue: configName) else {
            emit("error unknown configuration \(configName)")
            return 2
        }
        let ballastMB = options.ballasts.first ?? 0
        let duration = options.duration ?? 0
        do throws(RunError) {
            // Process-wide settings first: they are sealed by the first use.
            var churner = try PortChurner(
                config: config, policy: options.runPolicy, portKind: options.portKind,
                sharedConverters: options.sharedConverters)
            let ballast = try Ballast(megabytes: ballastMB)
            try churnLoop(
                churner: &churner, config: config, duration: duration,
                iterations: options.iterations, sampleMilliseconds: options.sampleMilliseconds,
                maxRSSBytes: options.maxRSSMegabytes << 20)
            withExtendedLifetime(ballast) {}
            return 0
        } catch {
            emit("error \(error)")
            return 1
        }
    }

    private static func churnLoop(
        churner: inout PortChurner, config: ChurnConfig, duration: Double,
        iterations: Int, sampleMilliseconds: Int, maxRSSBytes: Int
    ) throws(RunError) {
        let collectionsBefore = GC.collectionCount
        let start = System.now()
        let deadline = duration > 0 ? start + duration : .infinity
        let limit = iterations > 0 ? iterations : Int.max
        let sampleInterval = Double(sampleMilliseconds) / 1000
        let collectEveryPort = config == .gcEvery
        // Check the clock every 64 ports (every port when each one collects).
        let clockMask = collectEveryPort ? 0 : 63
        var nextSample = start + sampleInterval
        var ports = 0
        var stoppedByRSS = false
        emitSample(ports: 0, seconds: 0)
        while ports < limit {
            try churner.churnOne()
            if collectEveryPort { GC.collect() }
            ports += 1
            if ports & clockMask == 0 {
                let now = System.now()
                if now >= deadline { break }
                if now >= nextSample {
                    let rss = emitSample(ports: ports, seconds: now - start)
                    nextSample = now + sampleInterval
                    if rss > maxRSSBytes {
                        stoppedByRSS = true
                        break
                    }
                }
            }
        }
        let seconds = System.now() - start
        emitSample(ports: ports, seconds: seconds)
        let gcStatistics = GC.statistics
        let portStatistics = churner.statistics
        let resident = System.residentBytes()
        var fields: [(String, String)] = [
            ("ports", String(ports)),
            ("seconds", String(seconds)),
            ("gc_count", String(GC.collectionCount - collectionsBefore)),
            ("heap_size", String(gcStatistics.heapSize)),
            ("peak_rss", String(resident.peak)),
            ("table_capacity", String(portStatistics.tableCapacity)),
            ("table_live", String(portStatistics.tableLive)),
            ("foreign_live", String(portStatistics.foreignLiveBytes)),
            (
                "gc_pause_total_ms",
                fixed(
                    Double(gcStatistics.totalPause.components.attoseconds) / 1e15
                        + Double(gcStatistics.totalPause.components.seconds) * 1e3, 3)
            ),
            ("collections_requested", String(portStatistics.collectionsRequested)),
            ("table_dead", String(portStatistics.tableDeadAwaitingVacuum)),
            ("vacuums", String(portStatistics.vacuums)),
        ]
        if let policy = churner.policyArgument { fields.append(("policy", policy)) }
        if stoppedByRSS { fields.append(("stopped", "rss_limit")) }
        emit("result " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
    }

    /// Emits a sample; returns the RSS.
    @discardableResult
    private static func emitSample(ports: Int, seconds: Double) -> Int {
        let rss = System.residentBytes().current
        emit("sample \(ports) \(seconds) \(rss)")
        return rss
    }

    /// One line on standard output, flushed at once (the parent shows progress).
    static func emit(_ line: String) {
        print(line)
        fflush(nil)  // all output streams: `stdout` itself is not concurrency-safe to name
    }
}

/// A live GC heap of a given size, like a server's working set: a linked list
/// of 16-byte scanned objects (the size of a Guile pair, so the collector
/// marks the same kind of heap as in the Guile peer's ballast), held by one
/// root.
final class Ballast {
    /// libgc adds one byte to every request (all-interior-pointers mode, the
    /// default here: see GC_all_interior_pointers in gc.h), so a 16-byte
    /// request takes a 32-byte object; 15 bytes take exactly 16. Each cell
    /// only uses its first word, the pointer to the previous cell.
    static let requestBytes = 15
    static let cellBytes = 16

    private let head: GCRoot?
    let cellCount: Int

    init(megabytes: Int) throws(RunError) {
        cellCount = megabytes * (1 << 20) / Self.cellBytes
        guard cellCount > 0 else {
            head = nil
            return
        }
        do {
            // The list's head is on this (registered) thread's stack while it
            // grows.
            var previous: UnsafeMutableRawPointer? = nil
            for _ in 0..<cellCount {
                let cell = try GC.unsafeAllocate(byteCount: Self.requestBytes, kind: .scanned)
                cell.storeBytes(of: previous, as: UnsafeMutableRawPointer?.self)
                previous = cell
            }
            head = GCRoot(unsafeAddress: previous!)
        } catch {
            throw RunError("cannot allocate the \(megabytes) MB ballast: \(error)")
        }
    }
}
