// load-shedding-server: the example of MemoryPressureMonitor users asked for.
//
// A server that keeps 1 MiB of GC heap per accepted session. Requests arrive
// at a steady rate; each accepted one opens a session that ends after a
// fixed time. It refuses a request while the monitor's level is not normal.
// Offered more sessions than its memory limit holds, the server with the
// monitor refuses some and lives; the same server without it (--monitor
// none) grows past the limit and the kernel's OOM killer ends it.
//
// Run it under a limit (as root, on a machine with cgroups):
//
//   bash scripts/under-memory-limit.sh 200M -- .build/release/load-shedding-server
//   bash scripts/under-memory-limit.sh 200M -- .build/release/load-shedding-server --monitor none
//
// or through its driver, which runs both five times and prints the table:
// `swift run -c release load-shedding`.
//
//   load-shedding-server [--monitor default|collect|none] [--heap-share-percent P]
//                        [--requests N] [--interval-us N] [--session-ms N] [--session-kib N]
//                        [--progress-ms N]
//
// --monitor default: MemoryPressureMonitor() as it comes (limits found on
// their own, kernel notices, collections on warning); collect: the same,
// with collectsOnWarning spelled out; none: no monitor.
// --heap-share-percent: GC.Configuration.maximumHeapShare, the GC heap
// limit as a share of the cgroup's limit (an allocation past it is refused
// with GCError.outOfMemory instead of the OOM killer's SIGKILL).
//
// It prints progress lines, a summary, and a `result key=value ...` record
// for the driver. "Allowed" is what a server that knew its memory exactly
// would accept: the same arrivals, accepted while the open sessions fit in
// the limit less what the group used before the first request.

import BenchmarkSupport
import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ message: String) -> Never {
    print("load-shedding-server: \(message)")
    exit(64)
}

func mebibytes(_ bytes: Int) -> String { fixed(Double(bytes) / 1_048_576, 1) + " MiB" }

/// A session's memory: a scanned header pointing to pointer-free chunks of
/// 64 KiB less 16 bytes (libgc adds a byte to each object for interior
/// pointers, which would make a 64 KiB object take 17 blocks), every byte
/// written, so the session's pages are resident.
let chunkBytes = 65_536 - 16

func openSession(_ number: Int, chunks: Int) throws(GCError) -> UnsafeMutableRawPointer {
    let header = try GC.unsafeAllocate(byteCount: 8 * (chunks + 1), kind: .scanned)
    header.storeBytes(of: UInt(number), as: UInt.self)
    for chunk in 0..<chunks {
        let data = try GC.unsafeAllocate(byteCount: chunkBytes, kind: .pointerFree)
        memset(data, Int32(truncatingIfNeeded: number &+ chunk) | 1, chunkBytes)
        header.storeBytes(of: data, toByteOffset: 8 * (chunk + 1), as: UnsafeMutableRawPointer.self)
    }
    // Garbage of the request itself: a parsed request, a response buffer.
    for _ in 0..<8 { _ = try GC.unsafeAllocate(byteCount: 2048, kind: .pointerFree) }
    return header
}

/// Whether a closing session's data is intact (first byte of each chunk).
func sessionIsIntact(_ header: UnsafeMutableRawPointer, chunks: Int) -> Bool {
    let number = Int(header.load(as: UInt.self))
    for chunk in 0..<chunks {
        let data = header.load(fromByteOffset: 8 * (chunk + 1), as: UnsafeMutableRawPointer.self)
        if data.load(as: UInt8.self) != UInt8(truncatingIfNeeded: (number &+ chunk) | 1) { return false }
    }
    return true
}

/// How many of `requests` arrivals (one per tick) a server that holds at
/// most `capacity` open sessions of `sessionTicks` ticks accepts.
func allowedRequests(requests: Int, sessionTicks: Int, capacity: Int) -> Int {
    var ends: [Int] = []
    var first = 0
    var accepted = 0
    for tick in 0..<requests {
        while first < ends.count && ends[first] <= tick { first += 1 }
        if ends.count - first < capacity {
            ends.append(tick + sessionTicks)
            accepted += 1
        }
    }
    return accepted
}

let levelChanges = Atomic<Int>(0)

/// The GC heap and the monitor's view of the limit, for --verbose.
func details(_ monitor: MemoryPressureMonitor?) -> String {
    let statistics = GC.statistics
    var text =
        "; GC heap \(mebibytes(statistics.heapSize)), free \(mebibytes(statistics.freeBytes)), last pause \(statistics.lastPause), monitor GCs \(monitor?.statistics.collectionsRequested ?? 0) \(monitor?.statistics.totalCollectionTime ?? .zero)"
    if let limit = monitor?.latestSample.systemLimit {
        text += "; usage \(mebibytes(limit.usageBytes)) - inactive file \(mebibytes(limit.inactiveFileBytes))"
        text += " - free GC \(mebibytes(limit.freeGCHeapBytes)) = \(fixed(100 * limit.utilization, 0)) %"
    }
    return text
}

func serve(_ arguments: ChildArguments) throws -> Never {
    let mode = arguments.string("monitor") ?? "default"
    guard ["default", "collect", "none"].contains(mode) else { fail("--monitor needs default, collect or none") }
    let requests = try arguments.int("requests", 3000)
    let intervalNanoseconds = UInt64(try arguments.int("interval-us", 2000)) * 1000
    let sessionTicks = max(1, Int(UInt64(try arguments.int("session-ms", 1000)) * 1_000_000 / intervalNanoseconds))
    let sessionBytes = try arguments.int("session-kib", 1024) << 10
    let chunks = max(1, sessionBytes / 65_536)
    let progressNanoseconds = UInt64(try arguments.int("progress-ms", 500)) * 1_000_000
    let sharePercent = try arguments.int("heap-share-percent", 0, minimum: 0)
    guard sharePercent <= 100 else { fail("--heap-share-percent needs 0...100") }
    if sharePercent > 0 {
        try GC.configure(.init(maximumHeapShare: Double(sharePercent) / 100))
    }
    GC.initialize()

    // The limit the kernel enforces: the tightest hard limit found.
    let limits = try MemoryPressureMonitor.systemLimits()
    guard let hardLimit = limits.filter(\.source.isHardLimit).min(by: { $0.limitBytes < $1.limitBytes }) else {
        fail("no memory limit found (not even /proc/meminfo)")
    }
    let monitor: MemoryPressureMonitor? =
        switch mode {
        case "default": try MemoryPressureMonitor()
        case "collect": try MemoryPressureMonitor(.init(collectsOnWarning: true))
        default: nil
        }
    monitor?.addObserver { _ in levelChanges.add(1, ordering: .relaxed) }

    // What counts against the limit before the first request: the group's
    // usage (the machine's used memory when there is no group limit).
    let baseline = hardLimit.usageBytes
    let capacity = max(0, (hardLimit.limitBytes - baseline) / sessionBytes)
    let allowed = allowedRequests(requests: requests, sessionTicks: sessionTicks, capacity: capacity)
    print(
        "load-shedding-server: \(requests) requests, one every \(fixed(Double(intervalNanoseconds) / 1000, 0)) µs,"
            + " sessions of \(sessionBytes >> 10) KiB for \(sessionTicks) requests' time;"
            + " monitor \(mode)"
            + (sharePercent > 0 ? ", GC heap limit \(sharePercent) % of the container's" : ""))
    print(
        "  limit: \(hardLimit.source) = \(mebibytes(hardLimit.limitBytes)), \(mebibytes(baseline)) used before the"
            + " first request: room for \(capacity) sessions, \(allowed) requests allowed")
    if let heapLimit = GC.maximumHeapSize { print("  GC heap limit \(mebibytes(heapLimit))") }
    if let monitor {
        let sample = monitor.latestSample
        print(
            "  monitor: dominant \(sample.dominantBudget.map(String.init(describing:)) ?? "none")"
                + (sample.systemLimit.map { ", system limit \($0.source)" } ?? ""))
        for source in monitor.kernelNoticeSources { print("  notices: \(source)") }
    }

    // Open sessions in arrival order (every session lasts as long), held in
    // uncollectable memory the collector scans.
    let table = try GCUncollectable(byteCount: 8 * requests)
    func slot(_ index: Int) -> UnsafeMutableRawPointer? {
        table.withUnsafeMutableBytes { $0.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer?.self) }
    }
    func setSlot(_ index: Int, _ value: UnsafeMutableRawPointer?) {
        table.withUnsafeMutableBytes {
            $0.storeBytes(of: value, toByteOffset: 8 * index, as: UnsafeMutableRawPointer?.self)
        }
    }
    var ends = [Int](repeating: 0, count: requests)
    var oldest = 0
    var newest = 0
    var accepted = 0
    var refused = 0
    var refusedOutOfMemory = 0
    var peakOpen = 0
    var bad = 0
    let start = monotonicNanoseconds()
    var nextProgress = start + progressNanoseconds
    for tick in 0..<requests {
        // Sessions whose time is up end (their memory becomes garbage).
        while oldest < newest && ends[oldest] <= tick {
            if !sessionIsIntact(slot(oldest)!, chunks: chunks) { bad += 1 }
            setSlot(oldest, nil)
            oldest += 1
        }
        if let monitor, monitor.level != .normal {
            refused += 1
        } else {
            do {
                setSlot(newest, try openSession(tick, chunks: chunks))
                ends[newest] = tick + sessionTicks
                newest += 1
                accepted += 1
            } catch {
                guard case .outOfMemory = error else { throw error }
                refused += 1
                refusedOutOfMemory += 1
            }
        }
        peakOpen = max(peakOpen, newest - oldest)
        let now = monotonicNanoseconds()
        if now >= nextProgress {
            let heap = GC.statistics
            print(
                "  \(fixed(Double(now - start) / 1e9, 2)) s: \(newest - oldest) open, \(accepted) accepted,"
                    + " \(refused) refused, RSS \(mebibytes(residentBytes().current)),"
                    + " GC heap \(mebibytes(heap.heapSize)) (free \(mebibytes(heap.freeBytes))),"
                    + " level \(monitor.map { "\($0.level)" } ?? "-")"
                    + (arguments.flag("verbose") ? details(monitor) : ""))
            nextProgress += progressNanoseconds
        }
        // The next request arrives on time (none is late twice).
        let due = start + UInt64(tick + 1) * intervalNanoseconds
        if due > now {
            var deadline = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nil) == EINTR {}
        }
    }
    let elapsed = Double(monotonicNanoseconds() - start) / 1e9
    let peak = residentBytes().peak
    let statistics = monitor?.statistics
    monitor?.stop()
    print(
        "  accepted \(accepted), refused \(refused) (\(refusedOutOfMemory) by GCError.outOfMemory) of \(requests);"
            + " allowed \(allowed): \(fixed(100 * Double(accepted) / Double(max(1, allowed)), 0)) % of allowed")
    print(
        "  peak RSS \(mebibytes(peak)) of the \(mebibytes(hardLimit.limitBytes)) limit"
            + " (\(fixed(100 * Double(peak) / Double(hardLimit.limitBytes), 0)) %), peak \(peakOpen) open sessions,"
            + " \(fixed(elapsed, 1)) s, \(levelChanges.load(ordering: .relaxed)) level changes,"
            + " \(statistics?.notices ?? 0) kernel notices, \(GC.statistics.collections) collections")
    ChildRecord.result([
        ("monitor", mode), ("heap_share_percent", "\(sharePercent)"), ("requests", "\(requests)"),
        ("accepted", "\(accepted)"), ("refused", "\(refused)"), ("refused_oom", "\(refusedOutOfMemory)"),
        ("allowed", "\(allowed)"), ("capacity", "\(capacity)"), ("baseline_bytes", "\(baseline)"),
        ("limit_bytes", "\(hardLimit.limitBytes)"), ("limit_source", "\(hardLimit.source)"),
        ("peak_rss_bytes", "\(peak)"), ("peak_open", "\(peakOpen)"), ("seconds", fixed(elapsed, 2)),
        ("level_changes", "\(levelChanges.load(ordering: .relaxed))"),
        ("notices", "\(statistics?.notices ?? 0)"), ("collections", "\(GC.statistics.collections)"),
        ("monitor_collections", "\(statistics?.collectionsRequested ?? 0)"), ("bad", "\(bad)"),
    ]).emit()
    exit(bad == 0 ? 0 : 1)
}

do {
    let arguments = try ChildArguments(flags: ["verbose"])
    if let word = arguments.positional.first { fail("unexpected argument \(word)") }
    try serve(arguments)
} catch let error as UsageError {
    fail("\(error)")
} catch {
    fail("unexpected error: \(error)")
}
