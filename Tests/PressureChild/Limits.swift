// The `limits` mode of gc-pressure-child: what a default monitor finds in
// the cgroups the child runs in (the tests make a v1 group with a limit and
// pass it with --join-cgroup).

import BenchmarkSupport
import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// Reports the limits a default monitor finds, the heap limit a heap share
/// gives, then fills the GC heap (64 KiB chunks, every byte written) until
/// the cgroup budget reaches `--fill-percent` and reports the level.
///
///   gc-pressure-child limits [--join-cgroup DIR] [--heap-share-percent P] [--fill-percent F]
///                            [--rlimit-data-mb N]
func limits(_ arguments: ChildArguments) throws -> Never {
    try joinCgroups(arguments)
    if let megabytes = arguments.string("rlimit-data-mb").flatMap({ Int($0) }) {
        var limit = rlimit(rlim_cur: rlim_t(megabytes) << 20, rlim_max: rlim_t(megabytes) << 20)
        guard setrlimit(__rlimit_resource_t(RLIMIT_DATA.rawValue), &limit) == 0 else {
            fail("setrlimit(RLIMIT_DATA) failed: errno \(errno)")
        }
    }
    let sharePercent = try arguments.int("heap-share-percent", 0, minimum: 0)
    if sharePercent > 0 { try GC.configure(.init(maximumHeapShare: Double(sharePercent) / 100)) }
    GC.initialize()
    let monitor = try MemoryPressureMonitor(
        .init(samplingInterval: nil, samplesAfterCollections: false, collectsOnWarning: false))
    var sample = monitor.sample()
    let first = sample
    let fillPercent = try arguments.int("fill-percent", 0, minimum: 0)
    var chunks = 0
    var fillError = ""
    // Kept to the end (the chunks stay live for the last sample).
    let table = try AddressTable(capacity: fillPercent > 0 ? 1 << 16 : 1)
    if fillPercent > 0 {
        func filled() -> Bool { (sample.cgroupLimit?.utilization ?? 1) * 100 >= Double(fillPercent) }
        while chunks < table.capacity, !filled() {
            do {
                let chunk = try GC.unsafeAllocate(byteCount: 65_536 - 16, kind: .pointerFree)
                memset(chunk, 0x5A, 65_536 - 16)
                table[chunks] = chunk
                chunks += 1
            } catch {
                fillError = "\(error)"
                break
            }
            if chunks % 16 == 0 { sample = monitor.sample() }
        }
        // The sample that reached the fill stands; otherwise one of the end.
        if !filled() { sample = monitor.sample() }
    }
    precondition(chunks == 0 || table[0] != nil)
    let limit = sample.cgroupLimit
    finish(
        .success,
        [
            "mode": "limits", "cgroupSource": first.cgroupLimit.map { "\($0.source)" } ?? "none",
            "cgroupLimitBytes": first.cgroupLimit?.limitBytes ?? -1,
            "systemSource": first.systemLimit.map { "\($0.source)" } ?? "none",
            "resourceSource": first.resourceLimit.map { "\($0.source)" } ?? "none",
            "resourceLimitBytes": first.resourceLimit?.limitBytes ?? -1,
            "machine": first.machineLimit != nil, "heapLimitBytes": GC.maximumHeapSize ?? -1,
            "notices": monitor.kernelNoticeSources.joined(separator: "; "), "chunks": chunks,
            "fillError": fillError, "level": "\(monitor.level)",
            "dominant": sample.dominantBudget.map { "\($0)" } ?? "none",
            "utilizationPercent": Int(100 * sample.utilization), "usageBytes": limit?.usageBytes ?? -1,
            "inactiveFileBytes": limit?.inactiveFileBytes ?? -1, "freeGCHeapBytes": limit?.freeGCHeapBytes ?? -1,
        ])
}
