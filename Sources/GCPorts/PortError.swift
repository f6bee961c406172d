/// Errors of the ports.
public enum PortError: Error, Equatable, Sendable, CustomStringConvertible {
    /// iconv cannot convert between this encoding and UTF-8 (`iconv_open`
    /// failed with EINVAL), or the name is empty or holds a NUL byte.
    case unknownEncoding(String)
    /// Input that cannot be converted, at this byte offset.
    ///
    /// For an output port: a character the encoding cannot represent, or
    /// bytes that are not UTF-8, at this offset of the UTF-8 bytes given to
    /// the write that throws (with ``InvalidInputPolicy/error`` nothing of
    /// that write reached the port). At close, an incomplete UTF-8 sequence
    /// held from an earlier write, at its offset in that write.
    ///
    /// For an input port: bytes that are not valid in the port's encoding,
    /// or an incomplete sequence at the end of the input, at this offset
    /// from the first byte the port read (the port stops there: the text
    /// before it can be read, every read that must go past it throws this
    /// again).
    case invalidInput(byteOffset: Int)
    /// The replacement of ``InvalidInputPolicy/replace(with:)`` cannot be
    /// written in the port's encoding itself.
    case unencodableReplacement(String)
    /// An argument was out of its documented range; the message says which.
    case invalidArgument(String)
    /// The port was used after it was closed.
    case closed
    /// In a forked child: another thread of the parent was using the port
    /// when the process forked, so the port cannot be used (or closed) here.
    case inUseAtFork
    /// A system call failed: `operation` (e.g. "write") and its errno.
    case system(operation: String, errno: Int32)

    /// A sentence for the error, for logs and command-line tools.
    public var description: String {
        switch self {
        case .unknownEncoding(let name): return "unknown encoding \(name.debugDescription)"
        case .invalidInput(let offset): return "invalid or unconvertible input at byte offset \(offset)"
        case .unencodableReplacement(let text): return "the replacement \(text.debugDescription) is not encodable"
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .closed: return "the port is closed"
        case .inUseAtFork: return "the port was in use by another thread when the process forked"
        case .system(let operation, let errno): return "\(operation) failed: errno \(errno)"
        }
    }
}

/// What a port does with input it cannot convert: for an output port, a
/// character its encoding cannot represent or bytes that are not UTF-8; for
/// an input port, bytes that are not valid in its encoding, or an
/// incomplete sequence at the end of the input.
public enum InvalidInputPolicy: Sendable, Equatable {
    /// Throw ``PortError/invalidInput(byteOffset:)``. An output port's write
    /// then adds nothing; an input port stops before the invalid bytes.
    case error
    /// Put the replacement text in its place and go on. An output port
    /// writes one replacement per character it cannot represent and per
    /// maximal invalid UTF-8 subsequence (as Swift's `String(decoding:as:)`
    /// counts them); an input port puts one per invalid code unit (1 byte,
    /// 2 for UTF-16, 4 for UTF-32) and one for an incomplete sequence at the
    /// end. An empty replacement skips the input, as `iconv -c` does.
    case replace(with: String = "?")

    /// Replaces invalid input with U+FFFD REPLACEMENT CHARACTER: the usual
    /// choice for input ports.
    public static let replacementCharacter = InvalidInputPolicy.replace(with: "\u{FFFD}")

    /// Skips what cannot be converted (an empty replacement), like
    /// iconv(1)'s `-c`.
    public static let skip = InvalidInputPolicy.replace(with: "")
}

extension InvalidInputPolicy {
    /// The replacement text as UTF-8; empty for ``error``.
    var replacementUTF8: [UInt8] {
        guard case .replace(let text) = self else { return [] }
        return Array(text.utf8)
    }
}
