// gc-pressure-child: the child process of the heap-limit and memory-pressure
// tests (HeapLimitTests, MemoryLimitTests), one process per case.
//
//   gc-pressure-child heap-limit [--limit-mb N] [--runtime-limit] [--without-collect]
//   gc-pressure-child churn [--monitor] [--limit-mb N] [--requests N] [--live-mb N]
//                           [--share-percent N]
//   gc-pressure-child roots [--limit-mb N] [--byte-count N]
//   gc-pressure-child ration [--share-percent N] [--ms N] [--min-collections N] [--live-mb N]
//   gc-pressure-child limits [--join-cgroup DIR] [--heap-share-percent P] [--fill-percent F]
//                            [--rlimit-data-mb N]                                    (Limits.swift)
//
// Each mode prints one `result {...}` JSON line. Exit codes: 0 success,
// 1 a checked object was corrupted, 2 the heap limit was never reached,
// 3 the churn ran out of memory (caught as GCError.outOfMemory), 4 memory
// freed under the limit could not be allocated again, 64 bad arguments.

import BenchmarkSupport
import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

enum ExitCode: Int32 {
    case success = 0
    case corrupted = 1
    case limitNeverReached = 2
    case outOfMemory = 3
    case reallocationFailed = 4
    case usage = 64
}

/// Prints the `result {...}` line the tests read, then exits with `code`.
func finish(_ code: ExitCode, _ fields: KeyValuePairs<String, Any>) -> Never { finishChild(code.rawValue, fields) }

func fail(_ message: String) -> Never {
    print("gc-pressure-child: \(message)")
    exit(ExitCode.usage.rawValue)
}

/// Level changes the churn's observer saw, printed at the end.
let changeLog = Mutex<[String]>([])
/// The ration mode's foreign-bytes source.
let foreignBytes = Atomic<Int>(0)

// MARK: Object patterns

/// A word no heap address looks like, so conservative scanning of scanned
/// objects does not retain anything by accident.
func pattern(_ index: Int, _ word: Int) -> UInt {
    0xA5A5_0000_0000_0000 | UInt(truncatingIfNeeded: index &* 131 &+ word) & 0x0000_FFFF_FFFF_FFFF
}

/// Fills every word but `skipping` (a pointer slot) with the pattern.
func fill(_ object: UnsafeMutableRawPointer, byteCount: Int, index: Int, skipping: Int = -1) {
    let words = object.bindMemory(to: UInt.self, capacity: byteCount / 8)
    for word in 0..<byteCount / 8 where word != skipping { words[word] = pattern(index, word) }
}

func check(_ object: UnsafeMutableRawPointer, byteCount: Int, index: Int, skipping: Int = -1) -> Bool {
    let words = object.assumingMemoryBound(to: UInt.self)
    for word in 0..<byteCount / 8 where word != skipping && words[word] != pattern(index, word) {
        return false
    }
    return true
}

/// A table of object addresses in uncollectable (scanned, never freed)
/// memory: what keeps the child's data alive. Nothing here is kept in Swift
// MARK: heap-limit

/// Object `index`: sizes cycle from 64 B to 16 KiB; even objects are scanned
/// and hold, in word 1, a 48-byte pointer-free payload reachable only
/// through them.
let sizes = [64, 256, 1024, 4096, 16384]
let payloadSize = 48

func allocateObject(_ index: Int) throws(GCError) -> UnsafeMutableRawPointer {
    let size = sizes[index % sizes.count]
    if index % 2 == 0 {
        let object = try GC.unsafeAllocate(byteCount: size, kind: .scanned)
        fill(object, byteCount: size, index: index, skipping: 1)
        let payload = try GC.unsafeAllocate(byteCount: payloadSize, kind: .pointerFree)
        fill(payload, byteCount: payloadSize, index: ~index)
        object.storeBytes(of: payload, toByteOffset: 8, as: UnsafeMutableRawPointer.self)
        return object
    }
    let object = try GC.unsafeAllocate(byteCount: size, kind: .pointerFree)
    fill(object, byteCount: size, index: index)
    return object
}

func checkObject(_ object: UnsafeMutableRawPointer, _ index: Int) -> Bool {
    let size = sizes[index % sizes.count]
    if index % 2 == 0 {
        let payload = object.load(fromByteOffset: 8, as: UnsafeMutableRawPointer.self)
        return check(object, byteCount: size, index: index, skipping: 1)
            && check(payload, byteCount: payloadSize, index: ~index)
    }
    return check(object, byteCount: size, index: index)
}

func heapLimit(_ arguments: ChildArguments) throws -> Never {
    let limit = try arguments.int("limit-mb", 32) << 20
    if arguments.flag("runtime-limit") {
        GC.initialize()
        try GC.setMaximumHeapSize(limit)
    } else {
        try GC.configure(.init(maximumHeapSize: limit))
    }
    let table = try AddressTable(capacity: limit / 512)
    // Fill until the collector refuses.
    var filled = 0
    var oomSize = 0
    while true {
        guard filled < table.capacity else {
            finish(.limitNeverReached, ["mode": "heap-limit", "filled": filled])
        }
        do {
            table[filled] = try allocateObject(filled)
            filled += 1
        } catch {
            guard case .outOfMemory(let size) = error else { throw error }
            oomSize = size
            break
        }
    }
    let heapAtLimit = GC.statistics.heapSize
    var bad = (0..<filled).count { !checkObject(table[$0]!, $0) }
    guard bad == 0 else { finish(.corrupted, ["mode": "heap-limit", "phase": "fill", "bad": bad]) }
    // Drop every second object, collect, allocate into the freed room.
    for index in stride(from: 0, to: filled, by: 2) { table[index] = nil }
    // --without-collect: the allocations below must find the dropped
    // objects on their own (a failed allocation collects, at most once per
    // 20 pauses and 10 ms: the next request comes after that here).
    if arguments.flag("without-collect") {
        usleep(useconds_t(20_000 + 25 * max(0, GC.statistics.lastPause / .microseconds(1))))
    } else {
        GC.collect()
    }
    let dropped = (filled + 1) / 2
    var reallocated = 0
    var secondError = ""
    for index in stride(from: 0, to: filled, by: 2) {
        do {
            table[index] = try allocateObject(index)
            reallocated += 1
        } catch {
            secondError = "\(error)"
            break
        }
    }
    bad = (0..<filled).count { index in
        guard let object = table[index] else { return false }
        return !checkObject(object, index)
    }
    let survivors = (0..<filled).count { table[$0] != nil }
    let stats = GC.statistics
    let fields: KeyValuePairs<String, Any> = [
        "mode": "heap-limit", "limitBytes": limit, "runtimeLimit": arguments.flag("runtime-limit"),
        "filled": filled, "oomByteCount": oomSize, "heapAtLimit": heapAtLimit, "dropped": dropped,
        "reallocated": reallocated, "survivorsChecked": survivors, "bad": bad,
        "secondError": secondError, "heapAtEnd": stats.heapSize, "collections": stats.collections,
    ]
    if bad > 0 { finish(.corrupted, fields) }
    // Half the dropped objects must fit again: fragmentation may cost some.
    if reallocated * 2 < dropped { finish(.reallocationFailed, fields) }
    finish(.success, fields)
}

// MARK: churn

/// A server: every iteration a request arrives and, if accepted, holds a
/// working set (a scanned header pointing to 4 KiB pointer-free chunks) and
/// makes some garbage; every second iteration the oldest request completes.
/// In-flight work grows by half a request per iteration, past the heap limit
/// unless the server refuses work when told of pressure.
func churn(_ arguments: ChildArguments) throws -> Never {
    let limit = try arguments.int("limit-mb", 24) << 20
    let requests = try arguments.int("requests", 600)
    let chunks = 32
    // 4080, not 4096: libgc adds a byte to each object (interior pointers),
    // which would make a 4096-byte object take two 4 KiB blocks.
    let chunkSize = 4080
    let liveBytes = try arguments.int("live-mb", 0, minimum: 0) << 20
    try GC.configure(.init(maximumHeapSize: limit))
    GC.initialize()
    // Optional long-lived data the churn runs beside (scanned 256-byte
    // objects in a chain of tables), to see what the monitor's collections
    // cost when each one must mark a big live heap.
    let live = try AddressTable(capacity: max(1, liveBytes / 256))
    for index in 0..<(liveBytes / 256) {
        let object = try GC.unsafeAllocate(byteCount: 256, kind: .scanned)
        if index > 0 { object.storeBytes(of: live[index - 1], as: UnsafeMutableRawPointer?.self) }
        live[index] = object
    }
    let pauseBefore = GC.statistics.totalPause

    let monitor: MemoryPressureMonitor?
    if arguments.flag("monitor") {
        let started = monotonicNanoseconds()
        monitor = try MemoryPressureMonitor(
            .init(
                warningThreshold: 0.6, criticalThreshold: 0.8, hysteresis: 0.1,
                samplingInterval: .milliseconds(2), collectsOnWarning: true,
                collectionTimeShare: Double(try arguments.int("share-percent", 5)) / 100, cgroup: .none,
                readsResourceLimits: false, readsMachineMemory: false, kernelNotices: .none))
        monitor?.addObserver { change in
            let at = Double(monotonicNanoseconds() - started)
            let text =
                "\(change.previous)->\(change.current) at \(fixed(at / 1e6, 1)) ms"
                + " (gc heap in use \(change.sample.gcInUseBytes >> 10) KiB of \((change.sample.gcHeapLimit ?? 0) >> 10) KiB)"
            changeLog.withLock { $0.append(text) }
        }
    } else {
        monitor = nil
    }

    let inFlight = try AddressTable(capacity: requests)
    var oldest = 0
    var newest = 0
    var accepted = 0
    var refused = 0
    var completed = 0
    var peakInFlight = 0
    var bad = 0
    let start = monotonicNanoseconds()
    for iteration in 0..<requests {
        if let monitor, monitor.level >= .warning {
            refused += 1
        } else {
            do {
                let header = try GC.unsafeAllocate(byteCount: chunks * 8 + 8, kind: .scanned)
                header.storeBytes(of: UInt(iteration), as: UInt.self)
                for chunk in 0..<chunks {
                    let data = try GC.unsafeAllocate(byteCount: chunkSize, kind: .pointerFree)
                    fill(data, byteCount: chunkSize, index: iteration * chunks + chunk)
                    header.storeBytes(of: data, toByteOffset: 8 + chunk * 8, as: UnsafeMutableRawPointer.self)
                }
                // Garbage: a parsed request, a response buffer.
                for _ in 0..<8 { _ = try GC.unsafeAllocate(byteCount: 2048, kind: .pointerFree) }
                inFlight[newest] = header
                newest += 1
                accepted += 1
            } catch {
                let stats = GC.statistics
                finish(
                    .outOfMemory,
                    [
                        "mode": "churn", "monitor": monitor != nil, "error": "\(error)", "iteration": iteration,
                        "accepted": accepted, "inFlight": newest - oldest, "heapBytes": stats.heapSize,
                        "limitBytes": limit,
                    ])
            }
        }
        peakInFlight = max(peakInFlight, newest - oldest)
        if iteration % 2 == 1 && oldest < newest {
            // Complete the oldest request: check its data, let it go.
            let header = inFlight[oldest]!
            let number = Int(header.load(as: UInt.self))
            for chunk in 0..<chunks {
                let data = header.load(fromByteOffset: 8 + chunk * 8, as: UnsafeMutableRawPointer.self)
                if !check(data, byteCount: chunkSize, index: number * chunks + chunk) { bad += 1 }
            }
            inFlight[oldest] = nil
            oldest += 1
            completed += 1
        }
        usleep(250)  // the request's I/O
    }
    let elapsedNanoseconds = monotonicNanoseconds() - start
    let stats = GC.statistics
    let monitorStats = monitor?.statistics
    monitor?.stop()
    for line in changeLog.withLock({ $0 }) { print("change \(line)") }
    let fields: KeyValuePairs<String, Any> = [
        "mode": "churn", "monitor": monitor != nil, "requests": requests, "accepted": accepted,
        "refused": refused, "completed": completed, "peakInFlight": peakInFlight,
        "peakInFlightBytes": peakInFlight * chunks * chunkSize, "limitBytes": limit, "bad": bad,
        "heapBytes": stats.heapSize, "collections": stats.collections,
        "levelChanges": monitorStats?.levelChanges ?? 0, "samples": monitorStats?.samples ?? 0,
        "monitorCollections": monitorStats?.collectionsRequested ?? 0,
        "elapsedMs": Int(elapsedNanoseconds / 1_000_000), "liveBytes": liveBytes,
        "gcPauseMs": fixed((stats.totalPause - pauseBefore).milliseconds, 1),
        "maxPauseMs": fixed(stats.maxPause.milliseconds, 1),
    ]
    precondition(liveBytes == 0 || live[liveBytes / 256 - 1] != nil)
    finish(bad > 0 ? .corrupted : .success, fields)
}

// MARK: ration

/// Holds the level at warning (through the foreign budget) with
/// collect-on-warning for `--ms` milliseconds, sampling every 0.5 ms, beside
/// `--live-mb` of live data, and reports how much time the monitor's own
/// collections took. Nothing else allocates here, so every such collection
/// is a recheck charged to the time allowance.
func ration(_ arguments: ChildArguments) throws -> Never {
    let share = Double(try arguments.int("share-percent", 5)) / 100
    let duration = UInt64(try arguments.int("ms", 300)) * 1_000_000
    let liveBytes = try arguments.int("live-mb", 0, minimum: 0) << 20
    GC.initialize()
    let live = try AddressTable(capacity: max(1, liveBytes / 256))
    for index in 0..<(liveBytes / 256) {
        live[index] = try GC.unsafeAllocate(byteCount: 240, kind: .scanned)
    }
    GC.collect()
    foreignBytes.store(800, ordering: .relaxed)
    let monitor = try MemoryPressureMonitor(
        .init(
            warningThreshold: 0.7, criticalThreshold: 0.9, samplingInterval: nil, samplesAfterCollections: false,
            collectsOnWarning: true, collectionTimeShare: share, gcHeapBudget: .unwatched,
            foreignBytes: { foreignBytes.load(ordering: .relaxed) }, foreignLimit: 1000, readsResidentSize: false,
            cgroup: .none, readsResourceLimits: false, readsMachineMemory: false, kernelNotices: .none))
    let start = monotonicNanoseconds()
    var longest = Duration.zero
    var last = Duration.zero
    // At least `--ms`, and until `--min-collections` ran (at most 10 s).
    let minimumCollections = try arguments.int("min-collections", 1)
    while monotonicNanoseconds() - start < duration
        || (monitor.statistics.collectionsRequested < minimumCollections
            && monotonicNanoseconds() - start < 10_000_000_000)
    {
        monitor.sample()
        let total = monitor.statistics.totalCollectionTime
        longest = max(longest, total - last)
        last = total
        usleep(500)
    }
    let elapsed = Double(monotonicNanoseconds() - start)
    let statistics = monitor.statistics
    precondition(liveBytes == 0 || live[0] != nil)
    finish(
        monitor.level == .warning ? .success : .corrupted,
        [
            "mode": "ration", "share": fixed(share, 2), "liveBytes": liveBytes,
            "elapsedMs": fixed(elapsed / 1e6, 1), "collections": statistics.collectionsRequested,
            "collectionMs": fixed(statistics.totalCollectionTime.milliseconds, 2),
            "longestMs": fixed(longest.milliseconds, 2),
            "boundMs": fixed((elapsed * share + 3 * longest.nanoseconds) / 1e6 + 1, 2),
        ])
}

// MARK: roots

/// Fills the heap with small objects held by `GCRoot`s until the error, then
/// drops them and allocates again. Each root also allocates a one-word
/// uncollectable cell, which can be what fails at the limit.
func rootsAtLimit(_ arguments: ChildArguments) throws -> Never {
    let limit = try arguments.int("limit-mb", 8) << 20
    let byteCount = try arguments.int("byte-count", 32)
    try GC.configure(.init(maximumHeapSize: limit))
    var roots: [GCRoot] = []
    var error = ""
    do {
        while true { roots.append(try GCRoot(byteCount: byteCount, kind: .pointerFree)) }
    } catch let caught {
        error = "\(caught)"
    }
    let filled = roots.count
    roots.removeAll()
    GC.collect()
    let again = (try? GCRoot(byteCount: byteCount, kind: .pointerFree)) != nil
    finish(
        again ? .success : .reallocationFailed,
        ["mode": "roots", "byteCount": byteCount, "filled": filled, "error": error, "allocatesAgain": again])
}

do {
    let arguments = try ChildArguments(flags: ["monitor", "runtime-limit", "without-collect"])
    if arguments.positional.count > 1 { fail("unexpected argument \(arguments.positional[1])") }
    switch arguments.positional.first ?? "" {
    case "heap-limit": try heapLimit(arguments)
    case "churn": try churn(arguments)
    case "roots": try rootsAtLimit(arguments)
    case "ration": try ration(arguments)
    case "limits": try limits(arguments)
    default: fail("usage: gc-pressure-child heap-limit|churn|roots|ration|limits [options]")
    }
} catch let error as UsageError {
    fail("\(error)")
} catch {
    print("gc-pressure-child: unexpected error: \(error)")
    exit(ExitCode.usage.rawValue)
}
