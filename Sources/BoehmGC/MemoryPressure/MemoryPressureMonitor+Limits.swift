#if canImport(Glibc)
    import Glibc
#endif

extension MemoryPressureMonitor {
    /// Reads, once, every system limit a monitor with `configuration` would
    /// judge against, without starting one: the tightest first.
    ///
    /// Use it to log the limit a process runs under at start (it starts the
    /// collector: the free GC heap bytes are part of the figures). The cgroup
    /// limits of every level (`memory.max` and `memory.high`, or
    /// `memory.limit_in_bytes` and `memory.soft_limit_in_bytes`) are listed,
    /// then `RLIMIT_AS` and `RLIMIT_DATA`, then the machine's memory when
    /// none of those is below it, each only when set and asked for (see
    /// ``Configuration/cgroup``, ``Configuration/readsResourceLimits`` and
    /// ``Configuration/readsMachineMemory``).
    ///
    /// - Parameter configuration: Which limits to read; thresholds and
    ///   sampling play no part.
    /// - Returns: The limits, the largest ``MemoryLimit/utilization`` first.
    /// - Throws: ``GCError/invalidArgument(_:)`` for a cgroup directory that
    ///   does not exist or holds no memory limit file.
    public static func systemLimits(_ configuration: Configuration = Configuration()) throws(GCError) -> [MemoryLimit] {
        try configuration.cgroup.validate()
        enterCollector()
        let statistics = GC.statistics
        let reader = SystemMemoryReader(
            readsResident: false, levels: configuration.cgroup.resolve().levels,
            readsResourceLimits: configuration.readsResourceLimits, readsMachineMemory: configuration.readsMachineMemory
        )
        let limits = reader.readAll(
            gcFreeBytes: statistics.freeBytes, gcInUseBytes: statistics.heapSize - statistics.freeBytes)
        return limits.sorted { $0.utilization > $1.utilization }
    }
}

/// The cgroup levels a monitor reads, and the group whose
/// `memory.pressure` it prefers for stall triggers.
internal struct CgroupSetup {
    var levels: [CgroupLevel] = []
    var pressureDirectory: String?
}

extension MemoryPressureMonitor.CgroupSource {
    /// Throws for a directory given that does not exist, or (for
    /// ``directory(_:)``) holds no memory limit file.
    func validate() throws(GCError) {
        switch self {
        case .automatic, .none:
            return
        case .directory(let path):
            guard isDirectory(path) else { throw .invalidArgument("cgroup directory \(path) does not exist") }
            guard access(path + "/memory.max", F_OK) == 0 || access(path + "/memory.limit_in_bytes", F_OK) == 0 else {
                throw .invalidArgument(
                    "cgroup directory \(path) holds neither memory.max (cgroup v2) nor memory.limit_in_bytes (cgroup v1)"
                )
            }
        case .hierarchy(let mountPoint, let group):
            guard isDirectory(mountPoint) else {
                throw .invalidArgument("cgroup mount point \(mountPoint) does not exist")
            }
            guard group.hasPrefix("/") else {
                throw .invalidArgument("cgroup group path must start with /, got \(group)")
            }
            let directory = Self.join(mountPoint, group)
            guard isDirectory(directory) else {
                throw .invalidArgument("cgroup directory \(directory) does not exist")
            }
        }
    }

    /// The levels to read and the preferred `memory.pressure` directory.
    ///
    /// The own group comes first; v2 levels, then v1. Missing files leave
    /// levels out.
    func resolve() -> CgroupSetup {
        switch self {
        case .none:
            return CgroupSetup()
        case .automatic:
            let placement = CgroupPlacement.current()
            let directories = (placement.unified?.pathUp ?? []) + (placement.memoryV1?.pathUp ?? [])
            return CgroupSetup(
                levels: directories.compactMap(CgroupLevel.init), pressureDirectory: placement.unified?.directory)
        case .directory(let path):
            return CgroupSetup(levels: CgroupLevel(directory: path).map { [$0] } ?? [], pressureDirectory: path)
        case .hierarchy(let mountPoint, let group):
            let top = mountPoint.count > 1 && mountPoint.hasSuffix("/") ? String(mountPoint.dropLast()) : mountPoint
            let placed = CgroupPlacement.Group(directory: Self.join(top, group), mountPoint: top)
            return CgroupSetup(levels: placed.pathUp.compactMap(CgroupLevel.init), pressureDirectory: placed.directory)
        }
    }

    private static func join(_ mountPoint: String, _ group: String) -> String {
        var base = mountPoint
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var path = group
        while path.hasSuffix("/") { path.removeLast() }
        return path.isEmpty ? base : base + path
    }
}

private func isDirectory(_ path: String) -> Bool {
    !path.isEmpty && access(path + "/.", F_OK) == 0
}
