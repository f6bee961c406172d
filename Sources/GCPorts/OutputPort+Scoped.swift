import BoehmGC

/// Runs `body` with a new string port and returns what it wrote, encoded,
/// ending in the encoding's initial state. The port is closed when `body`
/// returns or throws.
///
/// - Parameters:
///   - encoding: An iconv encoding name.
///   - invalidInput: What to do with text the encoding cannot represent.
///   - body: Writes to the port; must not keep it.
/// - Returns: The bytes written, in `encoding`.
/// - Throws: What opening the port throws (``PortError/unknownEncoding(_:)``),
///   what `body` throws, or ``PortError/invalidInput(byteOffset:)`` for an
///   incomplete UTF-8 sequence left at the end of the last write (policy
///   ``InvalidInputPolicy/error``).
public func withOutputToString(
    encoding: String, invalidInput: InvalidInputPolicy = .error,
    _ body: (OutputPort) throws -> Void
) throws -> [UInt8] {
    let port = try OutputPort.openString(encoding: encoding, invalidInput: invalidInput)
    defer { try? port.close() }
    try body(port)
    try port.finish()
    return try port.contents()
}

/// Runs `body` with a new file port on `descriptor` and closes the port
/// (ends and flushes its output) when `body` returns or throws. The
/// descriptor stays open.
///
/// - Parameters:
///   - descriptor: An open file descriptor to write to.
///   - encoding: An iconv encoding name.
///   - invalidInput: What to do with text the encoding cannot represent.
///   - body: Writes to the port; must not keep it.
/// - Returns: What `body` returns.
/// - Throws: What opening the port throws, what `body` throws, or what the
///   final ``OutputPort/close()`` throws.
public func withOutputToFile<R>(
    descriptor: Int32, encoding: String, invalidInput: InvalidInputPolicy = .error,
    _ body: (OutputPort) throws -> R
) throws -> R {
    let port = try OutputPort.openFile(
        descriptor: descriptor, encoding: encoding, closesDescriptor: false, invalidInput: invalidInput)
    let result: R
    do {
        result = try body(port)
    } catch {
        try? port.close()
        throw error
    }
    try port.close()
    return result
}
