#if canImport(Glibc)
    import Glibc
#endif

/// A temporary file, open for reading and writing, removed on deinit.
package final class TemporaryFile {
    package let path: String
    package let descriptor: Int32

    package init(_ name: String = "gc-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))") {
        path = "/tmp/\(name)"
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "cannot create \(path)")
    }

    /// A temporary file that holds `contents`.
    package convenience init(contents: [UInt8]) {
        self.init()
        var written = 0
        while written < contents.count {
            let n = contents.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, contents.count - written) }
            precondition(n > 0 || errno == EINTR, "cannot write \(path): errno \(errno)")
            written += max(0, n)
        }
    }

    package var contents: [UInt8] { readFile(path) }

    deinit {
        close(descriptor)
        unlink(path)
    }
}

/// The bytes of the file at `path`; empty if it cannot be read.
package func readFile(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        if n <= 0 { break }
        result.append(contentsOf: chunk[..<n])
    }
    return result
}

/// Bytes as hex, for messages.
package func hex(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }.joined(separator: " ")
}

/// Where two byte strings first differ, for messages.
package func firstDifference(_ got: [UInt8], _ expected: [UInt8]) -> String {
    let index =
        zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        ?? min(got.count, expected.count)
    let from = max(0, index - 8)
    return "\(got.count) bytes against \(expected.count), first difference at \(index): "
        + "got \(hex(Array(got[from..<min(got.count, index + 8)]))), "
        + "expected \(hex(Array(expected[from..<min(expected.count, index + 8)])))"
}
