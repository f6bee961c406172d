import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// A text output port: text written to it is encoded with iconv into a
/// chosen encoding, and collected in memory (a string port) or written to a
/// file descriptor through a buffer (a file port).
///
/// In Guile's terms, an output string port (whose contents come out as
/// encoded bytes, like a bytevector output port with a transcoder) or a file
/// output port, with a port encoding. Any encoding glibc's iconv knows can be
/// written, stateful ones included (ISO-2022-*, UTF-7, UTF-16 and UTF-32
/// with a byte-order mark): the output always ends in the encoding's initial
/// state, whichever way it ends: ``close()``, ``contents()``, the flush at
/// process exit, or the collector releasing a port that was dropped
/// unclosed. See <doc:EncodingsAndInvalidInput>.
///
/// Every open port is in the process's open-ports table (see ``Ports``), a
/// weak-keyed table: a port dropped unclosed can be collected, and the
/// table's vacuum then ends and flushes its output, gives its converter
/// back (or closes it), closes its descriptor if the port owns it, and
/// gives its foreign bytes back to `ForeignMemory`; no libgc finalizer
/// is registered per port (<doc:DroppedPortsAndTheOpenPortsTable>). Where
/// converters come from is ``Ports/ConverterPolicy``.
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
    /// The encoding name given to iconv, as given at open.
    public let encoding: String
    internal let resource: PortResource<OutputPortState>

    private init(encoding: String, resource: consuming PortResource<OutputPortState>) {
        self.encoding = encoding
        self.resource = resource
    }

    /// Opens a string port: output is kept in memory, read with
    /// ``contents()`` (Guile's `open-output-string`).
    ///
    /// The first 32 bytes or so of output are kept in the port's own GC
    /// object; more moves to a malloc'd buffer (256 bytes, then doubling).
    /// The whole output stays until the port is closed or released.
    ///
    /// - Parameters:
    ///   - encoding: An iconv encoding name, such as "ISO-8859-15",
    ///     "UTF-16LE" or "ISO-2022-JP".
    ///   - invalidInput: What to do with text the encoding cannot represent
    ///     and bytes that are not UTF-8 (by default, throw).
    /// - Returns: An open port, registered in the open-ports table, at line
    ///   0, column 0.
    /// - Throws: ``PortError/unknownEncoding(_:)`` (an empty name too);
    ///   ``PortError/invalidArgument(_:)`` for a name with `//IGNORE`;
    ///   ``PortError/unencodableReplacement(_:)``;
    ///   ``PortError/system(operation:errno:)`` when `iconv_open` fails
    ///   otherwise; `GCError.outOfMemory(byteCount:)` when the port's GC
    ///   object or table entry cannot be allocated.
    ///
    /// The corresponding C function is `iconv_open` (UTF-8 to `encoding`):
    /// the first port of an encoding opens converters to probe it, and a
    /// port opens its own with ``Ports/ConverterPolicy/perPort``.
    public static func openString(
        encoding: String, invalidInput: InvalidInputPolicy = .error
    ) throws -> OutputPort {
        try open(
            encoding: encoding, descriptor: -1, closesDescriptor: false,
            bufferCapacity: Ports.stringPortInlineCapacity, invalidInput: invalidInput)
    }

    /// Opens a buffered file port on a descriptor (Guile's file output
    /// port, on a descriptor: `fdopen`).
    ///
    /// Encoded output collects in a malloc'd buffer and goes to the
    /// descriptor with write(2) when the buffer is full, at ``flush()``,
    /// ``Ports/flushAll()``, ``close()``, process exit, or when the
    /// open-ports table's vacuum releases a dropped port.
    ///
    /// - Parameters:
    ///   - descriptor: An open file descriptor to write to (0 or more).
    ///   - encoding: An iconv encoding name.
    ///   - closesDescriptor: Whether closing the port (or releasing it when
    ///     it was dropped unclosed) closes the descriptor too; false by
    ///     default.
    ///   - bufferCapacity: Bytes buffered before a write(2), in
    ///     ``Ports/bufferCapacityRange`` (1 byte to 1 GiB; 4,096 by
    ///     default). A single write is encoded whole into the buffer before
    ///     the buffer is written, so the buffer may grow past this for one
    ///     call.
    ///   - invalidInput: What to do with text the encoding cannot represent
    ///     and bytes that are not UTF-8 (by default, throw).
    /// - Returns: An open port, registered in the open-ports table, at line
    ///   0, column 0.
    /// - Throws: ``PortError/invalidArgument(_:)`` for a negative descriptor,
    ///   a capacity out of range or a name with `//IGNORE`;
    ///   ``PortError/unknownEncoding(_:)``;
    ///   ``PortError/unencodableReplacement(_:)``;
    ///   ``PortError/system(operation:errno:)`` when `iconv_open` fails
    ///   otherwise; `GCError.outOfMemory(byteCount:)` when the port's GC
    ///   object or table entry cannot be allocated. A descriptor the port
    ///   was to own is left open when the arguments, the encoding or the
    ///   replacement are refused, but closed when the GC object or table
    ///   entry cannot be allocated.
    ///
    /// The corresponding C function is `iconv_open` (UTF-8 to `encoding`):
    /// the first port of an encoding opens converters to probe it, and a
    /// port opens its own with ``Ports/ConverterPolicy/perPort``.
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
        // A buffer as short as a string port's lives in the record.
        let inline = bufferCapacity <= Ports.stringPortInlineCapacity ? bufferCapacity : 0
        let resource = try PortResource<OutputPortState>(
            encoding: encoding, direction: .encoding, kind: try Ports.state().kinds.output, inlineByteCount: inline
        ) { converter, inlineBuffer throws(PortError) in
            try OutputPortState(
                converter: converter, descriptor: descriptor, closesDescriptor: closesDescriptor,
                bufferCapacity: bufferCapacity, invalidInput: invalidInput, inlineBuffer: inlineBuffer)
        }
        return OutputPort(encoding: encoding, resource: resource)
    }

    /// Writes `text`, encoded (Guile's `put-string` or `display` of a
    /// string).
    ///
    /// A file port writes its buffer to its descriptor once the buffer holds
    /// its capacity (the `bufferCapacity` it was opened with) or more. The
    /// position (``line``, ``column``) moves over `text`, and over each
    /// replacement written in place of what could not be converted.
    ///
    /// - Parameter text: The text to write; an incomplete UTF-8 sequence
    ///   held from the last ``write(utf8Bytes:)`` is completed with its
    ///   first bytes.
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` (policy
    ///   ``InvalidInputPolicy/error``; the offset is in `text`'s UTF-8, and
    ///   nothing of `text` is written: the converter's state and the output
    ///   are as before); ``PortError/unencodableReplacement(_:)`` when the
    ///   replacement cannot be written in the encoder's current state;
    ///   ``PortError/closed``; ``PortError/inUseAtFork``;
    ///   ``PortError/system(operation:errno:)`` when a file port's buffer
    ///   cannot be written (the text stays buffered) or iconv(3) fails.
    ///
    /// The corresponding C functions are `iconv` and `write`.
    public func write(_ text: String) throws(PortError) {
        var text = text
        var failure: PortError?
        text.withUTF8 { utf8 in
            do throws(PortError) {
                try resource.withState { port throws(PortError) in
                    try port.write(UnsafeRawBufferPointer(utf8), isValid: true)
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
    /// the next write completes it; at ``close()`` (or when the port is
    /// ended otherwise) a sequence still incomplete follows the policy. Pass
    /// text on from an input port with
    /// ``InputPort/readAvailableUTF8()``: no `String` is made on the way.
    ///
    /// - Parameter utf8Bytes: UTF-8 text; the port copies what it needs
    ///   before returning.
    /// - Throws: As ``write(_:)``; the offset is in `utf8Bytes`. When the
    ///   bytes held from the last call turn out invalid with the start of
    ///   this one, the offset is 0 and the held bytes are dropped.
    ///
    /// The corresponding C functions are `iconv` and `write`.
    public func write(utf8Bytes: UnsafeRawBufferPointer) throws(PortError) {
        try resource.withState { port throws(PortError) in try port.write(utf8Bytes) }
    }

    /// Writes a file port's buffer to its descriptor (Guile's
    /// `force-output`); does nothing for a string port.
    ///
    /// The encoder stays in its state: a stateful encoding is not ended
    /// (that is ``close()``'s job), so the output stays the same as without
    /// the flush. An incomplete UTF-8 sequence held from the last write
    /// stays held. Interrupted writes (EINTR) are retried.
    ///
    /// - Throws: ``PortError/closed``; ``PortError/inUseAtFork``;
    ///   ``PortError/system(operation:errno:)`` when write(2) fails (the
    ///   bytes not written stay buffered).
    ///
    /// The corresponding C function is `write`.
    public func flush() throws(PortError) {
        try resource.withState { port throws(PortError) in try port.flush() }
    }

    /// The encoded output of a string port so far (Guile's
    /// `get-output-string`, as bytes).
    ///
    /// The output ends in the initial state of the encoding. An incomplete
    /// UTF-8 sequence held from the last write is not included. For a
    /// stateful encoding this returns the encoder to its initial state in
    /// mid-stream, writing what that takes (`ESC ( B` for ISO-2022-JP, the
    /// end of a UTF-7 run); later writes go on from there (and no second
    /// byte-order mark is written).
    ///
    /// - Returns: Every byte written so far, in the port's encoding (a
    ///   copy); empty for a file port.
    /// - Throws: ``PortError/closed``; ``PortError/inUseAtFork``.
    ///
    /// The corresponding C function is `iconv` (with a null input, to
    /// return to the initial state).
    public func contents() throws(PortError) -> [UInt8] {
        try resource.withState { port in
            guard !port.isFilePort else { return [] }
            port.endOutput()
            return Array(port.buffer.readable)
        }
    }

    /// Ends the output and flushes a file port.
    ///
    /// An incomplete UTF-8 sequence held from the last write follows the
    /// policy, and the encoder goes back to its initial state (writing what
    /// that takes). Used by ``withOutputToString(encoding:invalidInput:_:)``
    /// before it reads the contents.
    ///
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` for a held
    ///   incomplete sequence under ``InvalidInputPolicy/error``;
    ///   ``PortError/closed``; ``PortError/inUseAtFork``;
    ///   ``PortError/system(operation:errno:)``.
    internal func finish() throws(PortError) {
        try resource.withState { port throws(PortError) in
            try port.finish(reportsHeld: true)
            try port.flush()
        }
    }

    /// Ends the output and closes the port (Guile's `close-port`).
    ///
    /// An incomplete UTF-8 sequence held from the last write follows the
    /// policy, the encoder returns to its initial state (writing what that
    /// takes), the buffer is flushed, the converter is given back (or
    /// closed), the descriptor is closed if the port owns it, the port's
    /// open-ports table entry is removed and its foreign bytes are given
    /// back. Closing a closed port does nothing.
    ///
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` for a held
    ///   incomplete sequence under ``InvalidInputPolicy/error`` (the output
    ///   is still ended and flushed), or
    ///   ``PortError/system(operation:errno:)`` if the final flush failed
    ///   (the flush is tried once more as the port is released; bytes still
    ///   not written are dropped); the port is closed anyway. In a forked
    ///   child, ``PortError/inUseAtFork`` for a port another thread of the
    ///   parent was using at the fork: that port is not closed.
    ///
    /// The corresponding C functions are `iconv` (with a null input, to
    /// return to the initial state), `write`, `iconv_close` (for a
    /// converter of its own, and one the pool cannot keep) and `close`.
    public func close() throws(PortError) {
        var failure: PortError?
        do throws(PortError) {
            try resource.withState { port throws(PortError) in
                do throws(PortError) {
                    try port.finish(reportsHeld: true)
                } catch {
                    failure = error
                }
                try port.flush()
            }
        } catch .closed {
            return
        } catch {
            failure = failure ?? error
        }
        resource.close()
        if let failure { throw failure }
    }

    /// Whether ``close()`` closed the port (false for a port abandoned at a
    /// fork, which cannot be closed).
    ///
    /// Takes the port's lock, so it waits for a write in progress on
    /// another thread.
    public var isClosed: Bool { resource.isClosed }

    /// The port's GC object: the key of its open-ports table entry.
    ///
    /// A small pointer-free GC object that stands for the port; the
    /// collector tracks it, and this Swift object roots it (through a
    /// `GCRoot`). Store it in other GC objects to keep the port from being
    /// released as long as they are reachable.
    public var object: GCRoot { resource.object }

    /// Lines written so far: newlines, counted from 0, as Guile's
    /// `port-line`.
    public var line: Int { resource.position.line }

    /// The column the next character goes to, from 0, as Guile's
    /// `port-column`: a newline or carriage return goes back to 0, a tab to
    /// the next multiple of 8, a backspace back one (not before 0), a bell
    /// does not move, every other Unicode scalar forward one.
    public var column: Int { resource.position.column }

    /// Foreign bytes reported for the port now, in bytes of malloc.
    ///
    /// They are its buffer and the Swift objects behind it; the converter
    /// while it holds one (from open with ``Ports/ConverterPolicy/perPort``;
    /// from its first write to close for a stateful encoding; never for a
    /// stateless encoding with ``Ports/ConverterPolicy/pooled``); and its
    /// buffer's growth. 0 when
    /// ``Ports/Configuration/accountsForeignMemory`` is off, and once the
    /// port is closed. Takes the port's lock, so it waits for a write in
    /// progress on another thread.
    public var foreignByteCount: Int { resource.foreignByteCount }

    /// Bytes of GC memory the port takes (its record and its GC object):
    /// with ``foreignByteCount``, what a dropped port leaves until a
    /// collection finds it, but for its open-ports table slot (the soak's
    /// figure).
    package var gcByteCount: Int { resource.reference.gcByteCount }
}
