import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where the process's cgroups are: its own group's directory in the
/// unified (v2) hierarchy and in the v1 memory hierarchy, each with the
/// mount point above which the process cannot see.
///
/// Found from `/proc/self/cgroup` (`0::PATH` for v2, `N:...memory...:PATH`
/// for v1) and `/proc/self/mountinfo` (proc(5): field 4 is the mount's root
/// within the hierarchy, field 5 the mount point; after the ` - ` separator
/// come the file system type, the source and the super options, which name
/// a v1 hierarchy's controllers).
internal struct CgroupPlacement: Sendable, Equatable {
    struct Group: Sendable, Equatable {
        /// The process's own group.
        var directory: String
        /// The mount point: the walk up stops there.
        var mountPoint: String
    }

    var unified: Group?
    var memoryV1: Group?

    /// The placement of the calling process; nil fields where a hierarchy
    /// is not mounted or the files cannot be read.
    static func current() -> CgroupPlacement {
        guard let cgroup = KernelFile.readAll(path: "/proc/self/cgroup"),
            let mountinfo = KernelFile.readAll(path: "/proc/self/mountinfo")
        else { return CgroupPlacement() }
        return CgroupPlacement(cgroupFile: cgroup, mountinfo: mountinfo)
    }

    init(unified: Group? = nil, memoryV1: Group? = nil) {
        self.unified = unified
        self.memoryV1 = memoryV1
    }

    /// Reads the two files' contents.
    init(cgroupFile: String, mountinfo: String) {
        var unifiedPath: String?
        var memoryPath: String?
        for line in cgroupFile.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                unifiedPath = String(fields[2])
            } else if fields[1].split(separator: ",").contains("memory") {
                memoryPath = String(fields[2])
            }
        }
        let mounts = mountinfo.split(separator: "\n").compactMap(Mount.init)
        if let unifiedPath {
            unified = Self.locate(unifiedPath, in: mounts.filter { $0.fileSystem == "cgroup2" })
        }
        if let memoryPath {
            memoryV1 = Self.locate(
                memoryPath,
                in: mounts.filter {
                    $0.fileSystem == "cgroup" && $0.superOptions.split(separator: ",").contains("memory")
                })
        }
    }

    /// One line of mountinfo.
    private struct Mount {
        var root: String
        var mountPoint: String
        var fileSystem: Substring
        var superOptions: Substring

        init?(_ line: Substring) {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { return nil }
            let fields = halves[0].split(separator: " ")
            let tail = halves[1].split(separator: " ")
            guard fields.count >= 5, tail.count >= 3 else { return nil }
            root = unescapeMountField(fields[3])
            mountPoint = unescapeMountField(fields[4])
            fileSystem = tail[0]
            superOptions = tail[2]
        }
    }

    /// The directory of the group at `path` (as /proc/self/cgroup names it).
    ///
    /// It is under the first mount whose root holds it. A path outside every
    /// mount's root (a cgroup namespace shows its own root as `/`, a mount
    /// may show the host's) falls back to the first mount point, as the JVM
    /// does.
    private static func locate(_ path: String, in mounts: [Mount]) -> Group? {
        for mount in mounts {
            var relative = path
            if mount.root != "/" {
                guard relative == mount.root || relative.hasPrefix(mount.root + "/") else { continue }
                relative = String(relative.dropFirst(mount.root.count))
            }
            let directory = mount.mountPoint + (relative == "/" ? "" : relative)
            return Group(directory: directory, mountPoint: mount.mountPoint)
        }
        return mounts.first.map { Group(directory: $0.mountPoint, mountPoint: $0.mountPoint) }
    }
}

extension CgroupPlacement.Group {
    /// The directories from the group up to the mount point, the group first.
    var pathUp: [String] {
        var directories = [directory]
        var current = directory
        while current != mountPoint && current.count > mountPoint.count,
            let slash = current.lastIndex(of: "/")
        {
            current = String(current[..<slash])
            directories.append(current)
        }
        return directories
    }
}

/// One cgroup directory that can hold a memory limit (a v2 group with
/// `memory.max`, or a v1 memory group), with its files kept open.
///
/// Files that are missing or unreadable mean "no such limit".
internal final class CgroupLevel: Sendable {
    enum Version: Sendable { case v1, v2 }

    let directory: String
    let version: Version
    /// `memory.max` or `memory.limit_in_bytes`.
    private let hardLimit: KernelFile?
    /// `memory.high` or `memory.soft_limit_in_bytes`.
    private let softLimit: KernelFile?
    /// `memory.current` or `memory.usage_in_bytes`.
    private let usage: KernelFile?
    private let stat: KernelFile?

    /// The level at `directory`, or nil when it holds neither `memory.max`
    /// nor `memory.limit_in_bytes`.
    init?(directory: String) {
        if let max = KernelFile(path: directory + "/memory.max") {
            version = .v2
            hardLimit = max
            softLimit = KernelFile(path: directory + "/memory.high")
            usage = KernelFile(path: directory + "/memory.current")
        } else if let limit = KernelFile(path: directory + "/memory.limit_in_bytes") {
            version = .v1
            hardLimit = limit
            softLimit = KernelFile(path: directory + "/memory.soft_limit_in_bytes")
            usage = KernelFile(path: directory + "/memory.usage_in_bytes")
        } else {
            return nil
        }
        stat = KernelFile(path: directory + "/memory.stat")
        self.directory = directory
    }

    /// v2's `inactive_file` and v1's hierarchical `total_inactive_file` (v1's
    /// `usage_in_bytes` covers the group's descendants too).
    private static var inactiveFileV2: KeyName { KeyName("inactive_file") }
    private static var inactiveFileV1: KeyName { KeyName("total_inactive_file") }

    struct Reading {
        var hard: Int?
        var soft: Int?
        var usage: Int
        var inactiveFile: Int
    }

    /// When a read last found no limit here (CLOCK_MONOTONIC nanoseconds;
    /// 0: it found one, or never read).
    private let unlimitedSince = Atomic<UInt64>(0)

    /// The limits now, and the usage if there is a limit; nil when neither
    /// limit is set (`max`, v1's huge "unlimited" value) or there is no usage
    /// figure.
    ///
    /// A level without a limit is read again at most once a second (limits
    /// rarely change; a limit set later is seen within a second), so the
    /// levels above the process's group, usually without one, cost little.
    func read() -> Reading? {
        let now = monotonicNanoseconds()
        let since = unlimitedSince.load(ordering: .relaxed)
        if since != 0 && now &- since < 1_000_000_000 { return nil }
        let hard = hardLimit?.readInteger().flatMap(Self.limit)
        let soft = softLimit?.readInteger().flatMap(Self.limit)
        guard hard != nil || soft != nil, let usage = usage?.readInteger() else {
            unlimitedSince.store(now, ordering: .relaxed)
            return nil
        }
        if since != 0 { unlimitedSince.store(0, ordering: .relaxed) }
        let key = version == .v2 ? Self.inactiveFileV2 : Self.inactiveFileV1
        // memory.stat is a few kilobytes: v1 ~0.9 KB, v2 ~1.5-4 KB.
        let inactive = stat?.readValue(of: key, capacity: 8192) ?? 0
        return Reading(hard: hard, soft: soft, usage: usage, inactiveFile: min(inactive, usage))
    }

    /// The limit sources of this level.
    var sources: (hard: MemoryLimitSource, soft: MemoryLimitSource) {
        switch version {
        case .v2: (.cgroupV2Max(directory: directory), .cgroupV2High(directory: directory))
        case .v1: (.cgroupV1Limit(directory: directory), .cgroupV1SoftLimit(directory: directory))
        }
    }

    /// A value read from a limit file as a limit: nil for 0 and for values
    /// of 2^60 or more (v1 writes "unlimited" as 2^63 rounded down to a
    /// page, v2 as `max`, which is no number).
    private static func limit(_ value: Int) -> Int? {
        value > 0 && value < 1 << 60 ? value : nil
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
private func unescapeMountField(_ field: Substring) -> String {
    guard field.contains("\\") else { return String(field) }
    var bytes: [UInt8] = []
    let utf8 = Array(field.utf8)
    var index = 0
    while index < utf8.count {
        if utf8[index] == 0x5C, index + 3 < utf8.count,
            let value = UInt8(String(decoding: utf8[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
        {
            bytes.append(value)
            index += 4
        } else {
            bytes.append(utf8[index])
            index += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
