#if canImport(Glibc)
    import Glibc
#endif

/// A small kernel file (procfs, cgroupfs) kept open and re-read from offset
/// 0 with `pread`: the kernel regenerates the contents on every read, and
/// keeping the descriptor saves an open and a close per sample.
internal final class KernelFile: Sendable {
    // Set once in init, closed in deinit; pread does not move a shared
    // offset, so concurrent readers need no lock.
    private let descriptor: Int32

    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        descriptor = fd
    }

    deinit {
        close(descriptor)
    }

    /// Calls `body` with the file's first bytes (up to 64), read into a
    /// stack buffer; nil if the read fails.
    func withHead<R>(_ body: (UnsafeRawBufferPointer) -> R?) -> R? {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { buffer -> R? in
            var count: Int
            repeat {
                count = pread(descriptor, buffer.baseAddress, buffer.count, 0)
            } while count < 0 && errno == EINTR
            guard count > 0 else { return nil }
            return body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// The file's `field`-th field as a decimal integer.
    ///
    /// Returns nil when it is not a number (for example `max`).
    func readInteger(field: Int = 0) -> Int? {
        withHead { bytes in parseDecimal(bytes, field: field) }
    }

    /// Reads a whole (small) file by path, without keeping it open.
    static func readAll(path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The `field`-th whitespace-separated field of `bytes` as a non-negative
/// decimal integer, or nil if there is no such field or it is not a number.
internal func parseDecimal(_ bytes: UnsafeRawBufferPointer, field: Int) -> Int? {
    var index = 0
    var current = 0
    func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 }
    while index < bytes.count {
        while index < bytes.count && isSpace(bytes[index]) { index += 1 }
        guard index < bytes.count else { return nil }
        if current == field {
            var value = 0
            var digits = 0
            while index < bytes.count && !isSpace(bytes[index]) {
                let byte = bytes[index]
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - 0x30))
                guard !overflow1 && !overflow2 else { return nil }
                value = sum
                digits += 1
                index += 1
            }
            return digits > 0 ? value : nil
        }
        while index < bytes.count && !isSpace(bytes[index]) { index += 1 }
        current += 1
    }
    return nil
}

/// Reads the process's resident set size and its cgroup v2 memory figures.
internal final class SystemMemoryReader: Sendable {
    private let statm: KernelFile?
    private let cgroupCurrent: KernelFile?
    private let cgroupMax: KernelFile?
    private let pageSize: Int
    /// The cgroup directory in use, if one with a `memory.max` was found.
    let cgroupDirectory: String?

    init(readsResident: Bool, cgroupDirectory directory: String?) {
        statm = readsResident ? KernelFile(path: "/proc/self/statm") : nil
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        if let directory, let max = KernelFile(path: directory + "/memory.max") {
            cgroupMax = max
            cgroupCurrent = KernelFile(path: directory + "/memory.current")
            cgroupDirectory = directory
        } else {
            cgroupMax = nil
            cgroupCurrent = nil
            cgroupDirectory = nil
        }
    }

    /// Resident bytes: the second field of `/proc/self/statm`, in pages.
    var residentBytes: Int? {
        statm?.readInteger(field: 1).map { $0 * pageSize }
    }

    /// `memory.current` of the cgroup.
    var cgroupCurrentBytes: Int? { cgroupCurrent?.readInteger() }

    /// `memory.max` of the cgroup, nil when it reads `max`.
    var cgroupLimitBytes: Int? { cgroupMax?.readInteger() }

    /// The cgroup v2 directory of the calling process, if the unified
    /// hierarchy is mounted and the process's own cgroup has a `memory.max`
    /// (the root cgroup has none; a process outside any cgroup v2 limit is
    /// the normal case and gives nil).
    ///
    /// Found from `/proc/self/cgroup` (the `0::PATH` line) and the cgroup2
    /// entry of `/proc/self/mountinfo` (proc(5): field 4 is the mount's root
    /// within the hierarchy, field 5 the mount point).
    static func discoverCgroupDirectory() -> String? {
        guard let cgroupFile = KernelFile.readAll(path: "/proc/self/cgroup") else { return nil }
        guard
            let line = cgroupFile.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        let path = String(line.dropFirst(3))
        guard let mountinfo = KernelFile.readAll(path: "/proc/self/mountinfo") else { return nil }
        for entry in mountinfo.split(separator: "\n") {
            // "id parent major:minor root mountpoint options ... - fstype source superoptions"
            let halves = entry.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            guard fields.count >= 5 else { continue }
            let root = unescapeMountField(fields[3])
            let mountPoint = unescapeMountField(fields[4])
            var relative = path
            if root != "/" {
                guard relative.hasPrefix(root) else { continue }
                relative = String(relative.dropFirst(root.count))
            }
            let directory = mountPoint + (relative == "/" ? "" : relative)
            if access(directory + "/memory.max", R_OK) == 0 { return directory }
        }
        return nil
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space).
    private static func unescapeMountField(_ field: Substring) -> String {
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
}
