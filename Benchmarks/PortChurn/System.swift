#if canImport(Glibc)
    import Glibc
#endif

/// Small wrappers over the OS for the benchmark (no Foundation: it would
/// add its own pages to every child's RSS).
enum System {
    /// Monotonic seconds.
    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Resident set size and its peak (VmRSS and VmHWM of /proc/self/status),
    /// in bytes; 0 where /proc is missing.
    static func residentBytes() -> (current: Int, peak: Int) {
        guard let text = readFile("/proc/self/status") else { return (0, 0) }
        var current = 0
        var peak = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") {
                current = kilobytes(line) * 1024
            } else if line.hasPrefix("VmHWM:") {
                peak = kilobytes(line) * 1024
            }
        }
        return (current, peak)
    }

    private static func kilobytes(_ line: Substring) -> Int {
        let digits = line.drop { !$0.isNumber }.prefix { $0.isNumber }
        return Int(digits) ?? 0
    }

    /// The whole file as UTF-8 text, or `nil`.
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path`, creating its directory when missing.
    static func writeFile(_ path: String, _ text: String) throws(RunError) {
        makeParentDirectory(of: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var remaining = Array(text.utf8)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw RunError("cannot write \(path): \(String(cString: strerror(errno)))") }
            remaining = remaining.dropFirst(written)
        }
    }

    static func makeParentDirectory(of path: String) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let directory = String(path[..<slash])
        guard !directory.isEmpty else { return }
        var index = directory.startIndex
        while index < directory.endIndex {
            let rest = directory[directory.index(after: index)...]
            let next = rest.firstIndex(of: "/") ?? directory.endIndex
            mkdir(String(directory[..<next]), 0o755)
            index = next
        }
    }

    /// The full path of `name` on the PATH, or `nil`.
    static func which(_ name: String) -> String? {
        guard let path = getenv("PATH") else { return nil }
        for directory in String(cString: path).split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    static func fileExists(_ path: String) -> Bool { access(path, R_OK) == 0 }

    static var stderrIsTerminal: Bool { isatty(2) != 0 }

    /// Writes to standard error, unbuffered.
    static func printError(_ text: String, terminator: String = "\n") {
        var bytes = Array((text + terminator).utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    /// This executable, for re-running itself as a child.
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return CommandLine.arguments[0]
    }
}

struct RunError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Fixed-point formatting without Foundation.
func fixed(_ value: Double, _ digits: Int = 1) -> String {
    guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let sign = value < 0 && rounded != 0 ? "-" : ""
    let integer = Int(rounded / scale)
    guard digits > 0 else { return sign + String(integer) }
    let fraction = Int(rounded - Double(integer) * scale)
    var fractionText = String(fraction)
    while fractionText.count < digits { fractionText = "0" + fractionText }
    return "\(sign)\(integer).\(fractionText)"
}

/// `text` right-aligned (or left-aligned) in `width` columns.
func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + padding : padding + text
}
