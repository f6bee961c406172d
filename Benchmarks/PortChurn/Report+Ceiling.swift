import BenchmarkSupport

extension Report {
    /// The ceiling of a Swift run (see ``Ceiling``), from `closed` at the same ballast; nil
    /// for the Guile peer, a failed run or a ballast without `closed`.
    func ceiling(_ run: RunResult) -> Ceiling? {
        guard !run.isPeer, run.error == nil, let closed = result("closed", run.ballastMB), closed.portsPerSecond > 0
        else { return nil }
        // B is the trigger's budget when the trigger ran most collections;
        // otherwise (a port that reports little or no foreign memory, whose
        // GC memory libgc's own pace collects) the bytes observed per
        // collection.
        let triggered = (run.integer("collections_requested") ?? 0) * 2 >= max(run.collections, 1)
        return Ceiling(
            closedPortsPerSecond: closed.portsPerSecond, pauseSeconds: run.meanPauseSeconds,
            bytesPerDroppedPort: run.closesPorts ? nil : run.bytesPerPort,
            byteBudget: triggered ? run.byteBudget : nil, ports: run.ports, collections: run.collections)
    }

    /// Per Swift run: c0, X, Y, B, the ceiling, measured/ceiling, the time
    /// per port beyond the ceiling's, the vacuum's time per dead entry (the
    /// table's own work) and the whole release's per dead port.
    func ceilingTable() -> String {
        let width = max(24, results.map(\.label.count).max() ?? 0)
        let header = [
            pad("config", width, left: true), pad("ballast", 7), pad("ports/s", 10), pad("c0 ns", 7),
            pad("X pause ms", 10), pad("Y B/port", 9), pad("B kB", 9), pad("X*Y/B ns", 9), pad("ceiling/s", 10),
            pad("measured/ceiling", 16), pad("beyond ns", 9), pad("vacuum ns/dead", 14),
            pad("release ns/dead", 15),
        ].joined(separator: " ")
        var lines = [header, String(repeating: "-", count: header.count)]
        for ballast in ballasts {
            for run in results where run.ballastMB == ballast && !run.isPeer && run.error == nil {
                guard let ceiling = ceiling(run) else { continue }
                let budget = ceiling.budgetBytes.map {
                    fixed($0 / 1024, 0) + (ceiling.budgetSource == .observed ? "*" : "")
                }
                lines.append(
                    [
                        pad(run.label, width, left: true), pad("\(ballast) MB", 7),
                        pad(fixed(run.portsPerSecond, 0), 10), pad(fixed(ceiling.closedSeconds * 1e9, 0), 7),
                        pad(ceiling.pauseSeconds.map { fixed($0 * 1e3, 3) } ?? "-", 10),
                        pad(ceiling.bytesPerDroppedPort.map { fixed($0, 0) } ?? "-", 9), pad(budget ?? "-", 9),
                        pad(fixed(ceiling.collectionSecondsPerPort * 1e9, 0), 9),
                        pad(fixed(ceiling.portsPerSecond, 0), 10),
                        pad(fixed(run.portsPerSecond / ceiling.portsPerSecond, 2), 16),
                        pad(fixed(1e9 / run.portsPerSecond - 1e9 / ceiling.portsPerSecond, 0), 9),
                        pad(run.vacuumNanosecondsPerDeadEntry.map { fixed($0, 0) } ?? "-", 14),
                        pad(run.releaseNanosecondsPerDeadPort.map { fixed($0, 0) } ?? "-", 15),
                    ].joined(separator: " "))
            }
        }
        if lines.count == 2 { lines.append("(no ceiling: it needs `closed` at the same ballast)") }
        return lines.joined(separator: "\n")
    }
}
