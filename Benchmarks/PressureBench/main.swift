// pressure-bench: what a memory-pressure monitor costs and how soon it hears
// the kernel.
//
//   pressure-bench sample-cost [--samples N] [--live-mb N] [--json PATH] [--tiny]
//                              [--cgroup-dir DIR]  (DIR holds memory.max and memory.current)
//   pressure-bench notice [--events N] [--threshold-ms T] [--file-mb N] [--fake]  (Notices.swift)
//
// Each mode prints one `result {...}` JSON line. Exit codes: 0 success,
// 2 no notice was measured (none could be armed, or none changed the level),
// 64 bad arguments.

import BenchmarkSupport
import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

enum ExitCode: Int32 {
    case success = 0
    case notMeasured = 2
    case usage = 64
}

/// Prints the `result {...}` line, then exits with `code`.
func finish(_ code: ExitCode, _ fields: KeyValuePairs<String, Any>) -> Never { finishChild(code.rawValue, fields) }

func fail(_ message: String) -> Never {
    print("pressure-bench: \(message)")
    exit(ExitCode.usage.rawValue)
}

/// The sample-cost benchmark's foreign-bytes source.
let foreignBytes = Atomic<Int>(0)

// MARK: sample-cost

/// Calls per timed batch in sample-cost: a sample costs 0.05-3 µs and a
/// clock read pair ~30 ns, so each call is timed as 1/100 of a batch.
let sampleBatch = 100

/// The cost of one monitor sample against its floor (GC.statistics alone,
/// libgc's heap counters under its lock), with an empty heap and with a live
/// heap, and of one `level` check.
func sampleCost(_ arguments: ChildArguments) throws -> Never {
    let tiny = arguments.flag("tiny")
    let count = try arguments.int("samples", tiny ? 200 : 20_000)
    let liveBytes = try arguments.int("live-mb", tiny ? 4 : 64) << 20
    GC.initialize()
    let monitor = try MemoryPressureMonitor(
        .init(
            samplingInterval: nil, samplesAfterCollections: false, collectsOnWarning: false,
            gcHeapBudget: .bytes(1 << 40), foreignBytes: { foreignBytes.load(ordering: .relaxed) },
            foreignLimit: 1 << 40, residentLimit: 1 << 40,
            cgroup: arguments.string("cgroup-dir").map { .directory($0) } ?? .automatic, kernelNotices: .none))

    // The same without the files: what reading /proc (and cgroupfs) adds.
    let heapOnly = try MemoryPressureMonitor(
        .init(
            samplingInterval: nil, samplesAfterCollections: false, collectsOnWarning: false,
            gcHeapBudget: .bytes(1 << 40), foreignBytes: { foreignBytes.load(ordering: .relaxed) },
            foreignLimit: 1 << 40, readsResidentSize: false, cgroup: .none, readsResourceLimits: false,
            readsMachineMemory: false, kernelNotices: .none))

    /// Nanoseconds per call, the median of the batches.
    struct Figures {
        var floor: Double
        var sample: Double
        var heapOnly: Double
        var level: Double
    }

    func measure() -> Figures {
        var floors: [Double] = []
        var samples: [Double] = []
        var heapOnlySamples: [Double] = []
        for _ in 0..<max(1, count / sampleBatch) {
            floors.append(nanosecondsPerCall(sampleBatch) { _ = GC.statistics })
            samples.append(nanosecondsPerCall(sampleBatch) { monitor.sample() })
            heapOnlySamples.append(nanosecondsPerCall(sampleBatch) { heapOnly.sample() })
        }
        var sum = 0
        let level = nanosecondsPerCall(count * 100) { sum &+= Int(monitor.level.rawValue) }
        precondition(sum >= 0)
        return Figures(
            floor: median(floors), sample: median(samples), heapOnly: median(heapOnlySamples), level: level)
    }

    let empty = measure()
    // A live heap of `liveBytes` in 4 KiB pointer-free objects, held by a
    // table: the sample's cost must not grow with the heap.
    let table = try AddressTable(capacity: liveBytes / 4096)
    for index in 0..<table.capacity { table[index] = try GC.unsafeAllocate(byteCount: 4096, kind: .pointerFree) }
    GC.collect()
    let live = measure()
    let last = monitor.latestSample
    print(
        "one monitor sample, median of \(max(1, count / sampleBatch)) batches of \(sampleBatch)"
            + " (floor: GC.statistics alone, libgc's counters under its lock):")
    for (name, figures) in [("empty heap", empty), ("\(liveBytes >> 20) MB live", live)] {
        print(
            "  \(name): full sample (GC heap, foreign, RSS, cgroup levels, rlimits, machine) \(fixed(figures.sample, 0)) ns,"
                + " without /proc and cgroup files \(fixed(figures.heapOnly, 0)) ns,"
                + " floor \(fixed(figures.floor, 0)) ns, ratio \(fixed(figures.sample / figures.floor, 1))")
    }
    print("  level check: \(fixed(live.level, 2)) ns")
    if let path = arguments.string("json") {
        let json = jsonObject([
            "samples": count, "liveBytes": liveBytes, "floorNsEmpty": Int(empty.floor),
            "sampleNsEmpty": Int(empty.sample), "heapOnlySampleNsEmpty": Int(empty.heapOnly),
            "floorNsLive": Int(live.floor), "sampleNsLive": Int(live.sample),
            "heapOnlySampleNsLive": Int(live.heapOnly),
            "ratioLive": decimals(live.sample / live.floor, 2), "levelNs": decimals(live.level, 3),
            "cgroupDirectory": monitor.cgroupDirectory ?? "none", "residentBytes": last.residentBytes ?? -1,
            "gcHeapBytes": last.gcHeapBytes,
        ])
        guard let file = fopen(path, "w") else { fail("cannot write \(path)") }
        fputs(json + "\n", file)
        fclose(file)
    }
    precondition(table[0] != nil)  // the live heap stays live up to here
    finish(.success, ["mode": "sample-cost", "sampleNsLive": Int(live.sample)])
}

do {
    let arguments = try ChildArguments(flags: ["tiny", "fake"])
    if arguments.positional.count > 1 { fail("unexpected argument \(arguments.positional[1])") }
    switch arguments.positional.first ?? "" {
    case "sample-cost": try sampleCost(arguments)
    case "notice": try notice(arguments)
    default: fail("usage: pressure-bench sample-cost|notice [options]")
    }
} catch let error as UsageError {
    fail("\(error)")
} catch {
    print("pressure-bench: unexpected error: \(error)")
    exit(ExitCode.usage.rawValue)
}
