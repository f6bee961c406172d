import BoehmGC

/// Open-ports table and accounting figures at the end of a run.
struct PortStatistics {
    var tableCapacity = 0
    var tableLive = 0
    var foreignLiveBytes = 0
    var collectionsRequested = 0
}

/// The churn of one configuration: sets the process-wide knobs, then opens a
/// port, writes a line and drops (or closes) it, once per call.
struct PortChurner {
    let config: ChurnConfig
    let policyArgument: String?

    init(config: ChurnConfig, policy: String?) throws(RunError) {
        self.config = config
        self.policyArgument = policy
        throw RunError("the GCPorts module has not landed yet (issue 4)")
    }

    mutating func churnOne() throws(RunError) {}

    var statistics: PortStatistics { PortStatistics() }
}
