#if canImport(Glibc)
    import Glibc
#endif

/// A small kernel file (procfs, cgroupfs) kept open and re-read from offset
/// 0 with `pread`: the kernel regenerates the contents on every read, and
/// keeping the descriptor saves an open and a close per sample.
internal final class KernelFile: Sendable {
    // Set once in init, closed in deinit; pread does not move a shared
    // offset, so concurrent readers need no lock.
    let descriptor: Int32
    let path: String

    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        descriptor = fd
        self.path = path
    }

    deinit {
        close(descriptor)
    }

    /// Calls `body` with the file's first bytes (up to `capacity`), read
    /// into a stack buffer; nil if the read fails or the file is empty.
    func withContents<R>(capacity: Int = 64, _ body: (UnsafeRawBufferPointer) -> R?) -> R? {
        withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 8) { buffer -> R? in
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
        withContents { bytes in parseDecimal(bytes, field: field) }
    }

    /// The value of the `key value` (or `key: value kB`) line named `key`,
    /// read from the file's first `capacity` bytes.
    func readValue(of key: KeyName, capacity: Int) -> Int? {
        withContents(capacity: capacity) { bytes in keyedValue(bytes, key: key) }
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

/// The name of a line in a keyed kernel file (`memory.stat`,
/// `memory.events`, `/proc/meminfo`), as bytes, made once.
internal struct KeyName: Sendable {
    let bytes: [UInt8]
    init(_ name: String) { bytes = Array(name.utf8) }
}

/// The `field`-th whitespace-separated field of `bytes` as a non-negative
/// decimal integer, or nil if there is no such field or it is not a number.
internal func parseDecimal(_ bytes: UnsafeRawBufferPointer, field: Int) -> Int? {
    var index = 0
    var current = 0
    while index < bytes.count {
        while index < bytes.count && isSpace(bytes[index]) { index += 1 }
        guard index < bytes.count else { return nil }
        if current == field { return decimal(bytes, from: index) }
        while index < bytes.count && !isSpace(bytes[index]) { index += 1 }
        current += 1
    }
    return nil
}

/// The number after `key` on the line that starts with `key` followed by a
/// space or a colon (`total_inactive_file 4096`, `MemTotal:  24684084 kB`);
/// nil if there is no such line or its value is not a number.
internal func keyedValue(_ bytes: UnsafeRawBufferPointer, key: KeyName) -> Int? {
    let name = key.bytes
    var lineStart = 0
    while lineStart < bytes.count {
        var end = lineStart
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        if end - lineStart > name.count {
            var matches = true
            for offset in 0..<name.count where bytes[lineStart + offset] != name[offset] {
                matches = false
                break
            }
            let separator = bytes[lineStart + name.count]
            if matches && (separator == 0x20 || separator == 0x3A) {
                var index = lineStart + name.count + 1
                while index < end && isSpace(bytes[index]) { index += 1 }
                return index < end ? decimal(UnsafeRawBufferPointer(rebasing: bytes[..<end]), from: index) : nil
            }
        }
        lineStart = end + 1
    }
    return nil
}

private func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 }

/// The decimal number starting at `index` and ending at a space or the end,
/// or nil if a byte of it is no digit or it overflows.
private func decimal(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
    var index = start
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
