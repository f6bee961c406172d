import BoehmGC

/// Runs `body` with a new string port and returns what it wrote, encoded.
///
/// Guile's `call-with-output-string` or `with-output-to-string`, with the
/// output as encoded bytes. The output ends in the encoding's initial state.
/// The port is closed when `body` returns or throws.
///
/// - Parameters:
///   - encoding: An iconv encoding name.
///   - invalidInput: What to do with text the encoding cannot represent and
///     bytes that are not UTF-8 (by default, throw).
///   - body: Writes to the port; must not keep it.
/// - Returns: The bytes written, in `encoding`.
/// - Throws: What opening the port throws (as
///   ``OutputPort/openString(encoding:invalidInput:)``), what `body` throws,
///   or ``PortError/invalidInput(byteOffset:)`` for an incomplete UTF-8
///   sequence left at the end of the last write (policy
///   ``InvalidInputPolicy/error``).
///
/// The corresponding C functions are `iconv_open` and `iconv`.
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
/// (ends and flushes its output) when `body` returns or throws.
///
/// The descriptor stays open: the port does not own it. The port buffers
/// 4,096 bytes (the default capacity) between write(2) calls. When `body`
/// throws, the output written so far is still ended and flushed, and an
/// error of that close is dropped in favour of `body`'s.
///
/// - Parameters:
///   - descriptor: An open file descriptor to write to (0 or more).
///   - encoding: An iconv encoding name.
///   - invalidInput: What to do with text the encoding cannot represent and
///     bytes that are not UTF-8 (by default, throw).
///   - body: Writes to the port; must not keep it.
/// - Returns: What `body` returns.
/// - Throws: What opening the port throws (as
///   ``OutputPort/openFile(descriptor:encoding:closesDescriptor:bufferCapacity:invalidInput:)``),
///   what `body` throws, or what the final ``OutputPort/close()`` throws.
///
/// The corresponding C functions are `iconv_open`, `iconv` and `write`.
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
