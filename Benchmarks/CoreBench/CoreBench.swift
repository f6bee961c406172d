// core-bench: what the core's safe handles cost against the raw floor (a bare
// GC_malloc, called from C), with no live heap and with a live heap of 64 MB,
// where libgc's 4,096-entry rule for its link and finalizer tables forces
// full collections; and a full collection's pause at each live heap.
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport
import BoehmGC
import CFloor

@main
struct CoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core-bench",
        abstract: "What GCRoot, weak references and finalizers cost against a bare GC_malloc (32-byte objects).")

    @Option(help: "Operations of each kind per round.")
    var count = 200_000

    @Option(name: .customLong("ballast-mb"), help: "Live heaps to measure beside, in MB.", transform: integerList)
    var ballasts = [0, 64]

    @Option(name: .customLong("repeat"), help: "Rounds; each figure is the median.")
    var repeats = 5

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    @Flag(help: "The CI size: 5,000 operations, live heaps of 0 and 4 MB, one round.")
    var tiny = false

    struct Row: Encodable {
        var ballastMB: Int
        var operation: String
        var nsPerOp: Double
        var ratioToFloor: Double
    }

    struct Pause: Encodable {
        var ballastMB: Int
        var pauseMs: Double
    }

    mutating func run() throws {
        if tiny { (count, ballasts, repeats) = (5_000, [0, 4], 1) }
        GC.initialize()
        var ballast: [GCRoot] = []
        var rows: [Row] = []
        var pauses: [Pause] = []
        for mb in ballasts {
            // A live heap of linked 4 KiB scanned blocks, like a server's working set.
            while ballast.count * 4_096 < mb << 20 {
                let block = try GCRoot(byteCount: 4_096)
                if let last = ballast.last { try block.setReference(last, at: 0) }
                ballast.append(block)
            }
            if ballast.count * 4_096 > mb << 20 { ballast.removeAll() }
            GC.collect()
            // A full collection of this live heap: its stop-the-world pause,
            // the median of `repeats` forced collections.
            var pauseSamples: [Double] = []
            for _ in 0..<max(repeats, 1) {
                GC.collect()
                pauseSamples.append(GC.statistics.lastPause.milliseconds)
            }
            pauses.append(Pause(ballastMB: mb, pauseMs: median(pauseSamples)))
            let measured = try measureInTurns([
                ("raw allocation (floor)", { count in try checkedFloor(cfloor_alloc_ns(count, 32)) }),
                ("GCRoot", { count in try nanosecondsPerCall(count) { _ = try GCRoot(byteCount: 32) } }),
                (
                    "GCRoot + weak reference",
                    { count in try nanosecondsPerCall(count) { _ = try GCWeakReference(try GCRoot(byteCount: 32)) } }
                ),
                (
                    "GCRoot + finalizer",
                    { count in try nanosecondsPerCall(count) { try GCRoot(byteCount: 32).setFinalizer { _ in } } }
                ),
            ])
            for (name, ns) in measured {
                rows.append(Row(ballastMB: mb, operation: name, nsPerOp: ns, ratioToFloor: ns / measured[0].ns))
            }
        }

        print("core-bench: \(count) operations, median of \(repeats), 32-byte objects")
        print("live heap   operation                      ns/op   x floor")
        for row in rows {
            print(
                pad(String(row.ballastMB), 3, left: true) + " MB     " + pad(row.operation, 28, left: true) + " "
                    + pad(fixed(row.nsPerOp), 8) + "  " + pad(fixed(row.ratioToFloor), 7))
        }
        print("live heap   full collection pause (ms, median of \(max(repeats, 1)))")
        for pause in pauses {
            print(pad(String(pause.ballastMB), 4, left: true) + " MB    " + pad(fixed(pause.pauseMs, 2), 8))
        }
        let stats = GC.statistics
        print("collections \(stats.collections), heap \(stats.heapSize >> 20) MB, total pause \(stats.totalPause)")
        if let json {
            for index in rows.indices {
                rows[index].nsPerOp = decimals(rows[index].nsPerOp, 1)
                rows[index].ratioToFloor = decimals(rows[index].ratioToFloor, 1)
            }
            for index in pauses.indices { pauses[index].pauseMs = decimals(pauses[index].pauseMs, 2) }
            try writeJSON(Report(results: rows, pauses: pauses), to: json, snakeCaseKeys: true)
        }
        withExtendedLifetime(ballast) {}
    }

    struct Report: Encodable {
        var results: [Row]
        var pauses: [Pause]
    }

    /// ns per operation of each of `operations` (each runs `count` times and
    /// returns its ns per operation), the median of `repeats` rounds. The
    /// operations run in turns, so every one sees the same phases of the heap
    /// (growth, collections of the live heap).
    func measureInTurns(
        _ operations: [(name: String, nsPerOperation: (Int) throws -> Double)]
    ) throws -> [(name: String, ns: Double)] {
        var samples = Array(repeating: [Double](), count: operations.count)
        for _ in 0..<repeats {
            for (k, operation) in operations.enumerated() {
                samples[k].append(try operation.nsPerOperation(count))
                GC.runFinalizers()
            }
        }
        return operations.indices.map { (operations[$0].name, median(samples[$0])) }
    }
}

/// The C floor's figure, which is negative when allocation failed.
private func checkedFloor(_ ns: Double) throws -> Double {
    guard ns >= 0 else { throw GCError.outOfMemory(byteCount: 32) }
    return ns
}
