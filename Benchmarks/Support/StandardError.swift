#if canImport(Glibc)
    import Glibc
#endif

/// Writes `text` to standard error, unbuffered (progress and errors, beside
/// the report on standard output).
public func printError(_ text: String, terminator: String = "\n") {
    var bytes = Array((text + terminator).utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Whether standard error is a terminal (where progress lines go).
public var standardErrorIsTerminal: Bool { isatty(2) != 0 }
