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

    init(config: ChurnConfig, policy: String?, portKind: String, sharedConverters: Bool) throws(RunError) {
        self.config = config
        self.policyArgument = policy
        self.portKind = portKind
        let eager: Bool
        let accounted: Bool
        switch config {
        case .lazy: (eager, accounted) = (false, false)
        case .eager, .gcEvery, .closedRaw: (eager, accounted) = (true, false)
        case .accounted: (eager, accounted) = (false, true)
        case .both, .closed: (eager, accounted) = (true, true)
        }
        var triggerPolicy = ExternalMemory.TriggerPolicy.default
        if let policy {
            guard let parsed = ExternalMemory.TriggerPolicy(argument: policy) else {
                throw RunError("unknown trigger policy \(policy)")
            }
            triggerPolicy = parsed
        }
        do {
            try ExternalMemory.configure(.init(policy: accounted ? triggerPolicy : .never))
            try Ports.configure(
                .init(
                    vacuum: eager ? .eager : .lazyOnly, accountsForeignMemory: true,
                    converters: sharedConverters ? .pooled : .perPort))
        } catch {
            throw RunError("cannot configure the ports: \(error)")
        }
    }

    /// Opens a port, writes the line, closes it in `closed`, drops it.
    ///
    /// - Parameter measure: read the foreign bytes the port reports after
    ///   its write, before it is dropped or closed (what a dropped port
    ///   holds until a collection finds it).
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
            let held = measure ? port.foreignByteCount : 0
            if config == .closed || config == .closedRaw { try port.close() }
            return held
        } catch let error as RunError {
            throw error
        } catch {
            throw RunError("port: \(error)")
        }
    }

    var statistics: PortStatistics {
        let ports = Ports.statistics
        let foreign = ExternalMemory.statistics
        return PortStatistics(
            tableCapacity: ports.table.capacity, tableLive: ports.table.liveEntries,
            foreignLiveBytes: foreign.liveBytes, tableDeadAwaitingVacuum: ports.table.deadAwaitingVacuum,
            vacuums: ports.table.vacuums, collectionsRequested: foreign.collectionsRequested,
            entriesVacuumed: ports.table.entriesVacuumed, vacuumTime: ports.table.vacuumTime)
    }
}
