import BenchmarkSupport
import BoehmGC
import GCPorts

#if canImport(Glibc)
    import Glibc
#endif

/// Open-ports table and accounting figures at the end of a run.
struct PortStatistics {
    var tableCapacity = 0
    var tableLive = 0
    var foreignLiveBytes = 0
    var tableDeadAwaitingVacuum = 0
    var vacuums = 0
    var collectionsRequested = 0
    /// Dead entries the open-ports table's vacuums removed, and the time
    /// they took in all.
    var entriesVacuumed = 0
    var vacuumTime = Duration.zero
    /// Storage reallocations of the open-ports table (growth, shrinking,
    /// tombstone cleanup).
    var tableResizes = 0
}

/// The churn of one configuration: sets the process-wide knobs, then opens a
/// port, writes a line and drops (or closes) it, once per call.
///
/// "No accounting" is the trigger policy `never`: ports still report their
/// foreign bytes, so the figures show the live dark matter, but foreign
/// memory never makes the collector run.
struct PortChurner {
    let config: ChurnConfig
    let policyArgument: String?
    let portKind: String
    static let encoding = "ISO-8859-15"
    static let line = "churn: café € 42\n"

    init(
        config: ChurnConfig, policy: String?, portKind: String, sharedConverters: Bool, generational: Bool,
        fullEvery: Int?
    ) throws(RunError) {
        self.config = config
        self.policyArgument = policy
        self.portKind = portKind
        let eager: Bool
        let accounted: Bool
        switch config {
        case .lazy: (eager, accounted) = (false, false)
        case .eager, .gcEvery, .closedRaw: (eager, accounted) = (true, false)
        case .accounted: (eager, accounted) = (false, true)
        case .both, .closed, .seed: (eager, accounted) = (true, true)
        }
        var triggerPolicy = ForeignMemory.TriggerPolicy.default
        if let policy {
            guard let parsed = ForeignMemory.TriggerPolicy(argument: policy) else {
                throw RunError("unknown trigger policy \(policy)")
            }
            triggerPolicy = parsed
        }
        do {
            if generational {
                try GC.configure(.init(collections: fullEvery.map { .generational(fullEvery: $0) } ?? .generational()))
            }
            try ForeignMemory.configure(.init(policy: accounted ? triggerPolicy : .never))
            try Ports.configure(
                .init(
                    openPortsTable: config == .seed ? .disappearingLinks : .weakTable(eager ? .eager : .lazyOnly),
                    accountsForeignMemory: true, converters: sharedConverters ? .pooled : .perPort))
        } catch {
            throw RunError("cannot configure the ports: \(error)")
        }
    }

    /// Opens a port, writes the line, closes it in `closed`, drops it.
    ///
    /// - Parameter measure: read the bytes the port holds after its write,
    ///   before it is dropped or closed (what a dropped port holds until a
    ///   collection finds it): the foreign bytes it reports and its GC
    ///   memory.
    /// - Returns: those bytes when `measure`, else 0.
    @discardableResult
    mutating func churnOne(measure: Bool = false) throws(RunError) -> Int {
        do {
            let port: OutputPort
            if portKind == "file" {
                let descriptor = open("/dev/null", O_WRONLY | O_CLOEXEC)
                guard descriptor >= 0 else {
                    let code = errno
                    throw RunError(
                        "open /dev/null: \(String(cString: strerror(code)))",
                        stopReason: code == EMFILE || code == ENFILE ? "fd_limit" : nil)
                }
                port = try OutputPort.openFile(
                    descriptor: descriptor, encoding: Self.encoding, closesDescriptor: true)
            } else {
                port = try OutputPort.openString(encoding: Self.encoding)
            }
            try port.write(Self.line)
            let held = measure ? port.foreignByteCount + port.gcByteCount : 0
            if config == .closed || config == .closedRaw { try port.close() }
            return held
        } catch let error as RunError {
            throw error
        } catch {
            throw RunError("port: \(error)")
        }
    }

    /// What releasing a dropped port costs: the vacuum of the open-ports
    /// table after the collection that finds it (the table's scan), then
    /// the port's release (its output ended, its converter given back, its
    /// bytes removed from the accounting).
    ///
    /// Drops a batch of ports, at most half of what the trigger's budget
    /// allows (10,000 at most), then times a collection, the finalizers
    /// (an eager table's vacuum runs in the post-collection hook, which
    /// `GC.runFinalizers()` runs or waits for) and `Ports.vacuum()` (a lazy
    /// table's); less the collection's pause and less the same sequence
    /// timed with nothing dropped. Changes the process: call it after every
    /// other figure is read.
    ///
    /// - Returns: nanoseconds and ports released, or nil when nothing was.
    mutating func measureRelease() throws(RunError) -> (nanoseconds: Double, ports: Int)? {
        /// Nanoseconds of a collection and vacuum, less the pause, and the
        /// ports they released.
        func release() -> (Double, Int) {
            let released = Ports.statistics.releasedByCollector
            let start = monotonicNanoseconds()
            GC.collect()
            let pause = GC.statistics.lastPause
            GC.runFinalizers()
            Ports.vacuum()
            let elapsed = Double(monotonicNanoseconds() - start) - pause.nanoseconds
            return (elapsed, Ports.statistics.releasedByCollector - released)
        }
        _ = release()
        let (empty, _) = release()
        let held = max(try churnOne(measure: true), 1)
        let budget = ForeignMemory.statistics.byteBudget ?? Int.max
        let batch = max(16, min(10_000, budget / 2 / held))
        for _ in 1..<batch { try churnOne() }
        let (elapsed, ports) = release()
        return ports > 0 ? (elapsed - empty, ports) : nil
    }

    var statistics: PortStatistics {
        let ports = Ports.statistics
        let foreign = ForeignMemory.statistics
        return PortStatistics(
            tableCapacity: ports.table.capacity, tableLive: ports.table.liveEntries,
            foreignLiveBytes: foreign.liveBytes, tableDeadAwaitingVacuum: ports.table.deadAwaitingVacuum,
            vacuums: ports.table.vacuums, collectionsRequested: foreign.collectionsRequested,
            entriesVacuumed: ports.table.entriesVacuumed, vacuumTime: ports.table.vacuumTime,
            tableResizes: ports.table.resizes)
    }
}
