#if canImport(Glibc)
    import Glibc
#endif

/// Errors of the ports.
///
/// Every port operation throws `PortError` alone, except opening a port,
/// which may also throw `BoehmGC`'s errors: `GCError.outOfMemory(byteCount:)`
/// when the port's GC object or its open-ports table entry cannot be
/// allocated (at the heap limit), and `ForeignMemory.AccountingError` when
/// the live foreign counts would pass `Int.max`. See
/// <doc:EncodingsAndInvalidInput>.
public enum PortError: Error, Equatable, Sendable, CustomStringConvertible {
    /// iconv cannot convert between this encoding and UTF-8 (`iconv_open`
    /// failed with EINVAL), or the name is empty or holds a NUL byte. The
    /// associated value is the name as given.
    case unknownEncoding(String)
    /// Input that cannot be converted, at this byte offset (0 or more).
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
    /// written in the port's encoding itself: thrown when an output port
    /// opens (the replacement is checked once, in the encoding's initial
    /// state), or by a write that needs it in a state where it cannot be
    /// written. The associated value is the replacement.
    case unencodableReplacement(String)
    /// An argument was out of its documented range, or an encoding name
    /// carries glibc's `//IGNORE` suffix (the ports' ``InvalidInputPolicy``
    /// handles what cannot be converted); the message says which.
    case invalidArgument(String)
    /// The port was used after it was closed.
    case closed
    /// In a forked child: another thread of the parent was using the port
    /// when the process forked, so the port's lock is never released here
    /// and the port cannot be used (or closed) in this process. Its
    /// converter and descriptor are left alone.
    case inUseAtFork
    /// A system or C library call failed: `operation` names it ("read",
    /// "write", "iconv" or "iconv_open") and `errno` is the error number it
    /// set (such as EAGAIN for a read of an empty non-blocking descriptor,
    /// EMFILE or ENOMEM for `iconv_open`).
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
        case .system(let operation, let errno):
            return "\(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}

/// What a port does with input it cannot convert.
///
/// For an output port, such input is a character its encoding cannot
/// represent or bytes that are not UTF-8; for an input port, bytes that are
/// not valid in its encoding, or an incomplete sequence at the end of the
/// input. Guile calls this a port's conversion strategy: ``error`` is its
/// `error`, ``replace(with:)`` its `substitute` with a replacement of your
/// choice. The policy is fixed when the port is opened.
public enum InvalidInputPolicy: Sendable, Equatable {
    /// Throw ``PortError/invalidInput(byteOffset:)``. An output port's write
    /// then adds nothing; an input port stops before the invalid bytes.
    case error
    /// Put the replacement text in its place and go on.
    ///
    /// An output port
    /// writes one replacement per character it cannot represent and per
    /// maximal invalid UTF-8 subsequence (as Swift's `String(decoding:as:)`
    /// counts them); an input port puts one per invalid code unit (1 byte,
    /// 2 for UTF-16, 4 for UTF-32) and one for an incomplete sequence at the
    /// end. An empty replacement skips the input, as `iconv -c` does. An
    /// output port converts the replacement in the encoder's current state,
    /// so it is valid where it lands (after 日 in ISO-2022-JP, "?" needs
    /// `ESC ( B` first); an output port whose encoding cannot represent the
    /// replacement at all fails to open with
    /// ``PortError/unencodableReplacement(_:)``.
    case replace(with: String = "?")

    /// Replaces invalid input with U+FFFD REPLACEMENT CHARACTER: the usual
    /// choice for input ports.
    public static var replacementCharacter: InvalidInputPolicy { .replace(with: "\u{FFFD}") }

    /// Skips what cannot be converted (an empty replacement), like
    /// iconv(1)'s `-c`.
    public static var skip: InvalidInputPolicy { .replace(with: "") }
}

extension InvalidInputPolicy {
    /// The replacement text as UTF-8; empty for ``error``.
    var replacementUTF8: [UInt8] {
        guard case .replace(let text) = self else { return [] }
        return Array(text.utf8)
    }
}
