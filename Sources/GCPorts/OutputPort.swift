import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// A text output port: text written to it is encoded with iconv into a
/// chosen encoding, and collected in memory (a string port) or written to a
/// file descriptor through a buffer (a file port).
///
/// Any encoding glibc's iconv knows can be written, stateful ones included
/// (ISO-2022-*, UTF-7, UTF-16 and UTF-32 with a byte-order mark): the
/// output always ends in the encoding's initial state, whichever way it
/// ends: ``close()``, the flush at process exit, or the collector
/// releasing a port that was dropped unclosed.
///
/// Every open port is in the process's open-ports table (see ``Ports``), a
/// weak-keyed table: a port dropped unclosed can be collected, and the
/// table's vacuum then ends and flushes its output, gives its converter
/// back (or closes it), closes its descriptor if the port owns it, and
/// gives its foreign bytes back to ``ForeignMemory``; no libgc finalizer
/// is registered per port. Where converters come from is
/// ``Ports/ConverterPolicy``.
///
/// The port's GC object (``object``) is what the collector tracks; this
/// Swift value roots it. Store ``object`` in other GC objects to keep the
/// port open as long as they are reachable. Writes are serialised by a lock
/// per port, so a port can be shared between threads.
///
/// The port counts lines and columns of the text written (``line``,
/// ``column``), as Guile's `port-line` and `port-column` do.
///
/// ```swift
/// let bytes = try withOutputToString(encoding: "ISO-8859-15") { port in
///     try port.write("10 €\n")
/// }   // [0x31, 0x30, 0x20, 0xA4, 0x0A]
/// ```
public final class OutputPort: Sendable {
    /// The encoding name given to iconv.
    public let encoding: String
    internal let resource: PortResource<OutputPortCore>

    private init(encoding: String, resource: PortResource<OutputPortCore>) {
        self.encoding = encoding
        self.resource = resource
    }

    /// Opens a string port: output is kept in memory, read with
    /// ``contents()``.
    ///
    /// - Parameters:
    ///   - encoding: An iconv encoding name, such as "ISO-8859-15",
    ///     "UTF-16LE" or "ISO-2022-JP".
    ///   - invalidInput: What to do with text the encoding cannot represent
    ///     and bytes that are not UTF-8.
    /// - Throws: ``PortError/unknownEncoding(_:)`` (an empty name too),
    ///   ``PortError/unencodableReplacement(_:)``, or
    ///   ``GCError/outOfMemory(byteCount:)``.
    ///
    /// The corresponding C function is `iconv_open` (UTF-8 to `encoding`).
    public static func openString(
        encoding: String, invalidInput: InvalidInputPolicy = .error
    ) throws -> OutputPort {
        try open(
            encoding: encoding, descriptor: -1, closesDescriptor: false,
            bufferCapacity: Ports.stringPortInitialCapacity, invalidInput: invalidInput)
    }

    /// Opens a buffered file port on a descriptor.
    ///
    /// - Parameters:
    ///   - descriptor: An open file descriptor to write to (0 or more).
    ///   - encoding: An iconv encoding name.
    ///   - closesDescriptor: Whether closing the port (or collecting it)
    ///     closes the descriptor too.
    ///   - bufferCapacity: Bytes buffered before a write(2), in
    ///     ``Ports/bufferCapacityRange`` (1 byte to 1 GiB). A single write
    ///     is kept whole in the buffer until it is encoded, so the buffer
    ///     may grow past this for one call.
    ///   - invalidInput: What to do with text the encoding cannot represent
    ///     and bytes that are not UTF-8.
    /// - Throws: ``PortError/invalidArgument(_:)`` for a negative descriptor
    ///   or a capacity out of range, ``PortError/unknownEncoding(_:)``,
    ///   ``PortError/unencodableReplacement(_:)``,
    ///   ``GCError/outOfMemory(byteCount:)``.
    ///
    /// The corresponding C function is `iconv_open` (UTF-8 to `encoding`).
    public static func openFile(
        descriptor: Int32, encoding: String, closesDescriptor: Bool = false,
        bufferCapacity: Int = 4096, invalidInput: InvalidInputPolicy = .error
    ) throws -> OutputPort {
        try Ports.checkFileArguments(descriptor: descriptor, bufferCapacity: bufferCapacity)
        return try open(
            encoding: encoding, descriptor: descriptor, closesDescriptor: closesDescriptor,
            bufferCapacity: bufferCapacity, invalidInput: invalidInput)
    }

    private static func open(
        encoding: String, descriptor: Int32, closesDescriptor: Bool, bufferCapacity: Int,
        invalidInput: InvalidInputPolicy
    ) throws -> OutputPort {
        let resource = try PortResource(
            encoding: encoding, direction: .encoding, byteCount: bufferCapacity + Ports.outputPortObjectBytes
        ) { converter, account throws(PortError) in
            try OutputPortCore(
                converter: converter, descriptor: descriptor, closesDescriptor: closesDescriptor,
                bufferCapacity: bufferCapacity, invalidInput: invalidInput, account: account)
        }
        return OutputPort(encoding: encoding, resource: resource)
    }

    /// Writes `text`, encoded.
    ///
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` (policy
    ///   ``InvalidInputPolicy/error``; the offset is in `text`'s UTF-8, and
    ///   nothing of `text` is written: the converter's state and the output
    ///   are as before), ``PortError/closed``,
    ///   ``PortError/system(operation:errno:)`` when a file port's buffer
    ///   cannot be written.
    ///
    /// The corresponding C function is `iconv`.
    public func write(_ text: String) throws(PortError) {
        var text = text
        var failure: PortError?
        text.withUTF8 { utf8 in
            do throws(PortError) {
                try resource.withCore { core throws(PortError) in
                    try core.write(UnsafeRawBufferPointer(utf8), isValid: true)
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Writes bytes that should be UTF-8, encoded; bytes that are not UTF-8
    /// follow the port's ``InvalidInputPolicy``.
    ///
    /// An incomplete UTF-8 sequence at the end of `utf8Bytes` is held until
    /// the next call completes it; at ``close()`` (or when the port is ended
    /// otherwise) a sequence still incomplete follows the policy.
    ///
    /// - Parameter utf8Bytes: UTF-8 text; the port copies what it needs
    ///   before returning.
    /// - Throws: as ``write(_:)``; the offset is in `utf8Bytes`. When the
    ///   bytes held from the last call turn out invalid with the start of
    ///   this one, the offset is 0 and the held bytes are dropped.
    ///
    /// The corresponding C function is `iconv`.
    public func write(utf8Bytes: UnsafeRawBufferPointer) throws(PortError) {
        try resource.withCore { core throws(PortError) in try core.write(utf8Bytes) }
    }

    /// Writes a file port's buffer to its descriptor (nothing for a string
    /// port). The encoder stays in its state: a stateful encoding is not
    /// ended (that is ``close()``'s job), so the output stays the same as
    /// without the flush.
    ///
    /// - Throws: ``PortError/closed``, ``PortError/system(operation:errno:)``.
    ///
    /// The corresponding C function is `write`.
    public func flush() throws(PortError) {
        try resource.withCore { core throws(PortError) in try core.flush() }
    }

    /// The encoded output of a string port so far, ending in the initial
    /// state of the encoding (empty for a file port). An incomplete UTF-8
    /// sequence held from the last write is not included.
    ///
    /// For a stateful encoding this returns the encoder to its initial
    /// state in mid-stream, writing what that takes (`ESC ( B` for
    /// ISO-2022-JP, the end of a UTF-7 run); later writes go on from there
    /// (and no second byte-order mark is written).
    ///
    /// - Throws: ``PortError/closed``.
    public func contents() throws(PortError) -> [UInt8] {
        try resource.withCore { core in
            guard !core.isFilePort else { return [] }
            core.endOutput()
            return Array(core.buffer.readable)
        }
    }

    /// Ends the output: an incomplete UTF-8 sequence held from the last
    /// write follows the policy, the encoder goes back to its initial state
    /// (writing what that takes), and a file port is flushed. Used by
    /// ``withOutputToString(encoding:invalidInput:_:)`` before it reads the
    /// contents.
    internal func finish() throws(PortError) {
        try resource.withCore { core throws(PortError) in
            try core.finish(reportsHeld: true)
            try core.flush()
        }
    }

    /// Ends the output and closes the port: an incomplete UTF-8 sequence
    /// held from the last write follows the policy, the encoder returns to
    /// its initial state (writing what that takes), the buffer is flushed,
    /// the converter is given back (or closed), and the descriptor is
    /// closed if the port owns it. Closing a closed port does nothing.
    ///
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` for a held
    ///   incomplete sequence under ``InvalidInputPolicy/error``, or
    ///   ``PortError/system(operation:errno:)`` if the final flush failed;
    ///   the port is closed anyway.
    ///
    /// The corresponding C function is `iconv_close` (for a converter of
    /// its own).
    public func close() throws(PortError) {
        var failure: PortError?
        do throws(PortError) {
            try resource.withCore { core throws(PortError) in
                do throws(PortError) {
                    try core.finish(reportsHeld: true)
                } catch {
                    failure = error
                }
                try core.flush()
            }
        } catch .closed {
            return
        } catch {
            failure = failure ?? error
        }
        resource.close()
        if let failure { throw failure }
    }

    /// Whether the port is closed.
    public var isClosed: Bool { resource.isClosed }

    /// The port's GC object: the key of its open-ports table entry.
    public var object: GCRoot { resource.object }

    /// Lines written so far: newlines, counted from 0, as Guile's
    /// `port-line`.
    public var line: Int { resource.core.position.load().line }

    /// The column the next character goes to, from 0, as Guile's
    /// `port-column`: a newline or carriage return goes back to 0, a tab to
    /// the next multiple of 8, a backspace back one, every other Unicode
    /// scalar forward one.
    public var column: Int { resource.core.position.load().column }

    /// Foreign bytes reported for the port now (0 when
    /// ``Ports/Configuration/accountsForeignMemory`` is off): its buffer and
    /// the Swift objects behind it, the converter while it holds one (from
    /// open with ``Ports/ConverterPolicy/perPort``; from its first write to
    /// close for a stateful encoding; never for a stateless encoding with
    /// ``Ports/ConverterPolicy/pooled``), and its buffer's growth.
    public var foreignByteCount: Int { resource.foreignByteCount }
}
