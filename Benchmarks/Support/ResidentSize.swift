#if canImport(Glibc)
    import Glibc
#endif

/// This process's resident set size and its peak (`VmRSS` and `VmHWM` of
/// /proc/self/status), in bytes; 0 where /proc is missing.
///
/// /proc/self/status is opened once and re-read with `pread`: a run that
/// exhausts its descriptors can still be sampled, and a sample costs no
/// `open(2)`. Call it once before a run takes descriptors.
public func residentBytes() -> (current: Int, peak: Int) {
    var current = 0
    var peak = 0
    for line in readStatus().split(separator: "\n") {
        if line.hasPrefix("VmRSS:") {
            current = kilobytes(line) * 1024
        } else if line.hasPrefix("VmHWM:") {
            peak = kilobytes(line) * 1024
        }
    }
    return (current, peak)
}

private let statusDescriptor = open("/proc/self/status", O_RDONLY | O_CLOEXEC)

private func readStatus() -> String {
    guard statusDescriptor >= 0 else { return "" }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes {
            pread(statusDescriptor, $0.baseAddress, $0.count, off_t(bytes.count))
        }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func kilobytes(_ line: Substring) -> Int {
    Int(line.drop { !$0.isNumber }.prefix { $0.isNumber }) ?? 0
}
