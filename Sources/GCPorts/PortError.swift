/// Errors of the ports.
public enum PortError: Error, Equatable, Sendable, CustomStringConvertible {
    /// iconv does not know the encoding (`iconv_open` failed with EINVAL).
    case unknownEncoding(String)
    /// The text holds a character the encoding cannot represent, or bytes
    /// that are not UTF-8, at this byte offset of the written UTF-8; with
    /// ``InvalidInputPolicy/error`` nothing of that write reached the port.
    case invalidInput(byteOffset: Int)
    /// The replacement of ``InvalidInputPolicy/replace(with:)`` cannot be
    /// written in the port's encoding itself.
    case unencodableReplacement(String)
    /// The port was used after it was closed.
    case closed
    /// In a forked child: another thread of the parent was using the port
    /// when the process forked, so the port cannot be used (or closed) here.
    case inUseAtFork
    /// A system call failed: `operation` (e.g. "write") and its errno.
    case system(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .unknownEncoding(let name): return "unknown encoding \(name)"
        case .invalidInput(let offset): return "invalid or unencodable input at UTF-8 byte \(offset)"
        case .unencodableReplacement(let text): return "the replacement \(text.debugDescription) is not encodable"
        case .closed: return "the port is closed"
        case .inUseAtFork: return "the port was in use by another thread when the process forked"
        case .system(let operation, let errno): return "\(operation) failed: errno \(errno)"
        }
    }
}

/// What a port does with a character its encoding cannot represent, or with
/// bytes that are not UTF-8.
public enum InvalidInputPolicy: Sendable, Equatable {
    /// Throw ``PortError/invalidInput(byteOffset:)``; the write adds nothing.
    case error
    /// Write the replacement instead (encoded like any text) and go on; one
    /// replacement per unencodable character or per invalid byte.
    case replace(with: String = "?")
}
