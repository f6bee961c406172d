#if canImport(Glibc)
    import Glibc
#endif

/// Reads the process's memory figures and the limits the system sets on it,
/// once per sample: `/proc/self/statm`, the cgroup levels' files, the
/// resource limits and `/proc/meminfo`.
internal final class SystemMemoryReader: Sendable {
    private let statm: KernelFile?
    private let meminfo: KernelFile?
    private let pageSize: Int
    let readsResident: Bool
    let readsResourceLimits: Bool
    /// The cgroup directories that can hold a limit, the process's own
    /// group first (v2 levels, then v1 levels).
    let levels: [CgroupLevel]

    private static var memTotal: KeyName { KeyName("MemTotal") }
    private static var memAvailable: KeyName { KeyName("MemAvailable") }

    init(readsResident: Bool, levels: [CgroupLevel], readsResourceLimits: Bool, readsMachineMemory: Bool) {
        self.readsResident = readsResident
        self.readsResourceLimits = readsResourceLimits
        self.levels = levels
        // statm also gives the virtual and data sizes (RLIMIT_AS and
        // RLIMIT_DATA), and bounds the free GC heap counted as available.
        let needsStatm = readsResident || readsResourceLimits || readsMachineMemory || !levels.isEmpty
        statm = needsStatm ? KernelFile(path: "/proc/self/statm") : nil
        meminfo = readsMachineMemory ? KernelFile(path: "/proc/meminfo") : nil
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        // The machine's memory does not change (bar hot-plugging): read once.
        memTotalBytes = meminfo?.readValue(of: Self.memTotal, capacity: 512).map { $0 * 1024 }
    }

    /// MemTotal, in bytes.
    private let memTotalBytes: Int?

    struct Reading {
        /// Resident bytes, when asked for.
        var residentBytes: Int?
        var cgroup: MemoryLimit?
        var resource: MemoryLimit?
        var machine: MemoryLimit?
    }

    /// Reads every source once.
    ///
    /// - Parameters:
    ///   - gcFreeBytes: libgc's free bytes (mapped, not in use).
    ///   - gcInUseBytes: The GC heap in use.
    /// - Returns: The resident bytes (when asked for) and, for each budget,
    ///   the tightest limit.
    func read(gcFreeBytes: Int, gcInUseBytes: Int) -> Reading {
        var reading = Reading()
        reading.residentBytes = forEachLimit(gcFreeBytes: gcFreeBytes, gcInUseBytes: gcInUseBytes) { budget, limit in
            func keepTighter(_ current: inout MemoryLimit?) {
                if current.map({ limit.utilization > $0.utilization }) ?? true { current = limit }
            }
            switch budget {
            case .cgroup: keepTighter(&reading.cgroup)
            case .resourceLimit: keepTighter(&reading.resource)
            default: keepTighter(&reading.machine)
            }
        }
        if !readsResident { reading.residentBytes = nil }
        return reading
    }

    /// Every limit, in reading order.
    func readAll(gcFreeBytes: Int, gcInUseBytes: Int) -> [MemoryLimit] {
        var limits: [MemoryLimit] = []
        _ = forEachLimit(gcFreeBytes: gcFreeBytes, gcInUseBytes: gcInUseBytes) { limits.append($1) }
        return limits
    }

    /// Reads every source once and calls `body` with each limit set (the
    /// order of ``MemoryLimitSource``); returns the resident bytes.
    private func forEachLimit(
        gcFreeBytes: Int, gcInUseBytes: Int, _ body: (MemoryBudget, MemoryLimit) -> Void
    ) -> Int? {
        // statm: size resident shared text lib data dt, in pages.
        let sizes = statm?.withContents { bytes -> (Int?, Int?, Int?) in
            (parseDecimal(bytes, field: 0), parseDecimal(bytes, field: 1), parseDecimal(bytes, field: 5))
        }
        let virtualBytes = sizes?.0.map { $0 * pageSize }
        let residentBytes = sizes?.1.map { $0 * pageSize }
        let dataBytes = sizes?.2.map { $0 * pageSize }
        // Free GC pages never touched are not resident, so not in a
        // resident-based usage: count at most what is resident beyond the
        // GC heap in use, and leave the heap in use counted as used (a
        // group's usage can be below the resident size, which also counts
        // shared pages charged to other groups).
        let residentFreeGC = residentBytes.map { min(gcFreeBytes, max(0, $0 - gcInUseBytes)) } ?? 0
        func freeGC(within usage: Int) -> Int { min(residentFreeGC, max(0, usage - gcInUseBytes)) }
        var smallest = Int.max

        for level in levels {
            guard let figures = level.read() else { continue }
            let sources = level.sources
            for (limit, source) in [(figures.hard, sources.hard), (figures.soft, sources.soft)] {
                guard let limit else { continue }
                smallest = min(smallest, limit)
                body(
                    .cgroup,
                    MemoryLimit(
                        source: source, limitBytes: limit, usageBytes: figures.usage,
                        inactiveFileBytes: figures.inactiveFile, freeGCHeapBytes: freeGC(within: figures.usage)))
            }
        }
        if readsResourceLimits {
            for (resource, source, usage) in [
                (RLIMIT_AS, MemoryLimitSource.addressSpace, virtualBytes), (RLIMIT_DATA, .dataSegment, dataBytes),
            ] {
                guard let usage, let limit = Self.resourceLimit(resource) else { continue }
                smallest = min(smallest, limit)
                body(
                    .resourceLimit,
                    MemoryLimit(
                        source: source, limitBytes: limit, usageBytes: usage, inactiveFileBytes: 0,
                        freeGCHeapBytes: min(gcFreeBytes, usage)))
            }
        }
        // The last resort: only when no limit above is below the machine's
        // memory (then /proc/meminfo, the costliest file, is not read).
        if let meminfo, let total = memTotalBytes, total > 0, total <= smallest,
            let available = meminfo.readValue(of: Self.memAvailable, capacity: 512)
        {
            let usage = max(0, total - available * 1024)
            body(
                .machine,
                MemoryLimit(
                    source: .machine, limitBytes: total, usageBytes: usage, inactiveFileBytes: 0,
                    freeGCHeapBytes: freeGC(within: usage)))
        }
        return residentBytes
    }

    /// The soft resource limit in bytes, or nil when it is unlimited.
    private static func resourceLimit(_ resource: __rlimit_resource) -> Int? {
        var value = rlimit()
        guard getrlimit(__rlimit_resource_t(resource.rawValue), &value) == 0,
            value.rlim_cur > 0, value.rlim_cur < 1 << 60  // RLIM_INFINITY is all ones
        else { return nil }
        return Int(value.rlim_cur)
    }
}
