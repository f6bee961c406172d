import BoehmGC

/// Runs `body` with a new input port over `bytes` (Guile's
/// `with-input-from-string`, for encoded bytes) and closes the port when
/// `body` returns or throws.
///
/// - Parameters:
///   - bytes: The encoded input.
///   - encoding: An iconv encoding name.
///   - invalidInput: What to do with input that is not valid in the
///     encoding.
///   - body: Reads from the port; must not keep it.
/// - Returns: What `body` returns.
/// - Throws: What opening the port throws (``PortError/unknownEncoding(_:)``),
///   or what `body` throws.
public func withInputFromBytes<R>(
    _ bytes: [UInt8], encoding: String, invalidInput: InvalidInputPolicy = .error,
    _ body: (InputPort) throws -> R
) throws -> R {
    let port = try InputPort.openBytes(bytes, encoding: encoding, invalidInput: invalidInput)
    defer { port.close() }
    return try body(port)
}

/// Runs `body` with a new input port on `descriptor` and closes the port
/// when `body` returns or throws. The descriptor stays open.
///
/// - Parameters:
///   - descriptor: An open file descriptor to read from.
///   - encoding: An iconv encoding name.
///   - bufferCapacity: Bytes asked of each read(2), in
///     ``Ports/bufferCapacityRange``.
///   - invalidInput: What to do with input that is not valid in the
///     encoding.
///   - body: Reads from the port; must not keep it.
/// - Returns: What `body` returns.
/// - Throws: What opening the port throws, or what `body` throws.
public func withInputFromFile<R>(
    descriptor: Int32, encoding: String, bufferCapacity: Int = 4096, invalidInput: InvalidInputPolicy = .error,
    _ body: (InputPort) throws -> R
) throws -> R {
    let port = try InputPort.openFile(
        descriptor: descriptor, encoding: encoding, bufferCapacity: bufferCapacity, invalidInput: invalidInput)
    defer { port.close() }
    return try body(port)
}
