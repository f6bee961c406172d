// What the measured and tested children share besides their arguments: the
// one-line JSON result they print and exit with, a table of GC object
// addresses kept in scanned memory, and joining a cgroup before anything is
// allocated.

import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// A one-line JSON object of `fields` (strings quoted as they are, numbers
/// and Booleans as Swift prints them), without Foundation.
public func jsonObject(_ fields: KeyValuePairs<String, Any>...) -> String {
    let members = fields.joined().map { key, value in
        if let text = value as? String { return "\"\(key)\":\"\(text)\"" }
        return "\"\(key)\":\(value)"
    }
    return "{" + members.joined(separator: ",") + "}"
}

/// Prints a child's `result {...}` line (`fields` and `exit`, the status),
/// then exits with `status`.
public func finishChild(_ status: Int32, _ fields: KeyValuePairs<String, Any>) -> Never {
    print("result \(jsonObject(fields, ["exit": status]))")
    exit(status)
}

/// A table of object addresses in uncollectable (scanned, never freed)
/// memory: what keeps a child's data alive. Nothing here is kept in Swift
/// memory, which the collector does not scan.
public struct AddressTable: ~Copyable {
    let block: GCUncollectable
    public let capacity: Int

    public init(capacity: Int) throws(GCError) {
        block = try GCUncollectable(byteCount: capacity * 8)
        self.capacity = capacity
    }

    public subscript(index: Int) -> UnsafeMutableRawPointer? {
        get { block.withUnsafeBytes { $0.load(fromByteOffset: index * 8, as: UnsafeMutableRawPointer?.self) } }
        nonmutating set {
            block.withUnsafeMutableBytes {
                $0.storeBytes(of: newValue, toByteOffset: index * 8, as: UnsafeMutableRawPointer?.self)
            }
        }
    }
}

/// Moves this process into the cgroup directories of `--join-cgroup` and
/// `--join-cgroup2`, before it allocates anything.
///
/// - Throws: `UsageError` if a group's `cgroup.procs` cannot be written.
public func joinCgroups(_ arguments: ChildArguments) throws(UsageError) {
    for directory in [arguments.string("join-cgroup"), arguments.string("join-cgroup2")].compactMap({ $0 }) {
        let procs = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        let text = "\(getpid())\n"
        guard procs >= 0, text.utf8CString.withUnsafeBytes({ write(procs, $0.baseAddress, $0.count - 1) }) > 0
        else { throw UsageError("cannot join \(directory): errno \(errno)") }
        close(procs)
    }
}
