import BoehmGC

/// Runs `body` with a new input port over `bytes` and closes the port when
/// `body` returns or throws.
///
/// Guile's `call-with-input-string` or `with-input-from-string`, for
/// encoded bytes. The port is ``InputPort/openBytes(_:encoding:bufferCapacity:invalidInput:)``'s,
/// with the default buffer capacity (4,096 bytes).
///
/// - Parameters:
///   - bytes: The encoded input.
///   - encoding: An iconv encoding name.
///   - invalidInput: What to do with input that is not valid in the
///     encoding (by default, throw).
///   - body: Reads from the port; must not keep it.
/// - Returns: What `body` returns.
/// - Throws: What opening the port throws (``PortError/unknownEncoding(_:)``,
///   ``PortError/system(operation:errno:)``, `GCError.outOfMemory(byteCount:)`),
///   or what `body` throws.
///
/// The corresponding C functions are `iconv_open` and `iconv`.
public func withInputFromBytes<R>(
    _ bytes: [UInt8], encoding: String, invalidInput: InvalidInputPolicy = .error,
    _ body: (InputPort) throws -> R
) throws -> R {
    let port = try InputPort.openBytes(bytes, encoding: encoding, invalidInput: invalidInput)
    defer { port.close() }
    return try body(port)
}

/// Runs `body` with a new input port on `descriptor` and closes the port
/// when `body` returns or throws.
///
/// The descriptor stays open: the port does not own it. Input the port read
/// ahead and `body` did not read is lost with the port.
///
/// - Parameters:
///   - descriptor: An open file descriptor to read from (0 or more).
///   - encoding: An iconv encoding name.
///   - bufferCapacity: Bytes asked of each read(2), in
///     ``Ports/bufferCapacityRange`` (4,096 by default).
///   - invalidInput: What to do with input that is not valid in the
///     encoding (by default, throw).
///   - body: Reads from the port; must not keep it.
/// - Returns: What `body` returns.
/// - Throws: What opening the port throws (as
///   ``InputPort/openFile(descriptor:encoding:closesDescriptor:bufferCapacity:invalidInput:)``),
///   or what `body` throws.
///
/// The corresponding C functions are `iconv_open`, `read` and `iconv`.
public func withInputFromFile<R>(
    descriptor: Int32, encoding: String, bufferCapacity: Int = 4096, invalidInput: InvalidInputPolicy = .error,
    _ body: (InputPort) throws -> R
) throws -> R {
    let port = try InputPort.openFile(
        descriptor: descriptor, encoding: encoding, bufferCapacity: bufferCapacity, invalidInput: invalidInput)
    defer { port.close() }
    return try body(port)
}
