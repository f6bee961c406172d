import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// A text input port: bytes in a chosen encoding, from memory or from a file
/// descriptor, decoded with iconv and read as Swift text.
///
/// In Guile's terms, a bytevector input port or a file input port with a
/// port encoding. Any encoding glibc's iconv knows can be read. The port
/// reads its source in blocks (``bufferCapacity`` bytes per read(2)) into
/// malloc'd memory; a character split between two blocks is decoded once,
/// when its last byte arrives. A byte-order mark at the start of UTF-16 or UTF-32 input sets
/// the byte order and is not returned as text. Input that is not valid in
/// the encoding, and an incomplete sequence at the end of the input, follow
/// the port's ``InvalidInputPolicy``: ``PortError/invalidInput(byteOffset:)``
/// with the offset from the first byte read (the text before it can still
/// be read), or a replacement (``InvalidInputPolicy/replacementCharacter``).
///
/// Reads count Swift `Character`s (extended grapheme clusters): a
/// character is returned once the text after it shows that it is complete.
/// The port counts lines and columns of the text read (``line``,
/// ``column``) as Guile's `port-line` and `port-column` do.
///
/// Every open port is in the process's open-ports table (see ``Ports``):
/// a port dropped unclosed can be collected, and the table's vacuum then
/// gives its converter back (or closes it), closes its descriptor if the
/// port owns it, and gives its foreign bytes back to `ForeignMemory`; see
/// <doc:DroppedPortsAndTheOpenPortsTable>. Where its converter comes from is
/// ``Ports/ConverterPolicy``. Reads are serialised by a lock per port (a
/// blocking read(2) is done under it), so a port can be shared between
/// threads; ``line`` and ``column`` are read without the lock.
///
/// ```swift
/// let text = try withInputFromBytes([0x31, 0x30, 0x20, 0xA4, 0x0A], encoding: "ISO-8859-15") {
///     try $0.readLine()
/// }   // "10 €"
/// ```
public final class InputPort: Sendable {
    /// The encoding name given to iconv, as given at open.
    public let encoding: String
    /// Bytes asked of each read(2), 1 or more (for a bytes port, bytes taken
    /// from memory at a time: no more than it holds).
    public let bufferCapacity: Int
    internal let resource: PortResource<InputPortState>

    private init(encoding: String, bufferCapacity: Int, resource: consuming PortResource<InputPortState>) {
        self.encoding = encoding
        self.bufferCapacity = bufferCapacity
        self.resource = resource
    }

    /// Opens a port that reads `bytes`, encoded in `encoding` (Guile's
    /// `open-bytevector-input-port` with a transcoder).
    ///
    /// The port holds `bytes` until it is closed or released, and counts
    /// their size in its ``foreignByteCount``.
    ///
    /// - Parameters:
    ///   - bytes: The encoded input; the port keeps it until closed.
    ///   - encoding: An iconv encoding name, such as "UTF-16" or "SHIFT_JIS".
    ///   - bufferCapacity: Bytes decoded at a time, in
    ///     ``Ports/bufferCapacityRange`` (1 byte to 1 GiB; 4,096 by
    ///     default); no more than `bytes` holds is used.
    ///   - invalidInput: What to do with input that is not valid in the
    ///     encoding (by default, throw).
    /// - Returns: An open port, registered in the open-ports table, at line
    ///   0, column 0.
    /// - Throws: ``PortError/invalidArgument(_:)`` for a capacity out of
    ///   range or a name with `//IGNORE`; ``PortError/unknownEncoding(_:)``
    ///   (an empty name too);
    ///   ``PortError/system(operation:errno:)`` when `iconv_open` fails
    ///   otherwise; `GCError.outOfMemory(byteCount:)` when the port's GC
    ///   object or table entry cannot be allocated.
    ///
    /// The corresponding C function is `iconv_open` (`encoding` to UTF-8):
    /// the first port of an encoding opens converters to probe it, and a
    /// port opens its own with ``Ports/ConverterPolicy/perPort``.
    public static func openBytes(
        _ bytes: [UInt8], encoding: String, bufferCapacity: Int = 4096,
        invalidInput: InvalidInputPolicy = .error
    ) throws -> InputPort {
        try Ports.checkBufferCapacity(bufferCapacity)
        return try open(
            source: .bytes(bytes), closesDescriptor: false, encoding: encoding,
            bufferCapacity: min(bufferCapacity, max(1, bytes.count)), invalidInput: invalidInput)
    }

    /// Opens a buffered port that reads from a file descriptor (Guile's file
    /// input port, on a descriptor: `fdopen`).
    ///
    /// Nothing is read until the first read. The port's two buffers (the
    /// bytes read and the text decoded) are malloc'd, never in the GC heap.
    ///
    /// - Parameters:
    ///   - descriptor: An open file descriptor to read from (0 or more); a
    ///     blocking one (a non-blocking one with no data makes a read throw
    ///     ``PortError/system(operation:errno:)`` with EAGAIN).
    ///   - encoding: An iconv encoding name.
    ///   - closesDescriptor: Whether closing the port (or releasing it when
    ///     it was dropped unclosed) closes the descriptor too; false by
    ///     default.
    ///   - bufferCapacity: Bytes asked of each read(2), in
    ///     ``Ports/bufferCapacityRange`` (1 byte to 1 GiB; 4,096 by
    ///     default).
    ///   - invalidInput: What to do with input that is not valid in the
    ///     encoding (by default, throw).
    /// - Returns: An open port, registered in the open-ports table, at line
    ///   0, column 0.
    /// - Throws: ``PortError/invalidArgument(_:)`` for a negative descriptor,
    ///   a capacity out of range or a name with `//IGNORE`;
    ///   ``PortError/unknownEncoding(_:)``;
    ///   ``PortError/system(operation:errno:)`` when `iconv_open` fails
    ///   otherwise; `GCError.outOfMemory(byteCount:)` when the port's GC
    ///   object or table entry cannot be allocated. A descriptor the port
    ///   was to own is left open when the arguments or the encoding are
    ///   refused, but closed when the GC object or table entry cannot be
    ///   allocated.
    ///
    /// The corresponding C function is `iconv_open` (`encoding` to UTF-8):
    /// the first port of an encoding opens converters to probe it, and a
    /// port opens its own with ``Ports/ConverterPolicy/perPort``.
    public static func openFile(
        descriptor: Int32, encoding: String, closesDescriptor: Bool = false, bufferCapacity: Int = 4096,
        invalidInput: InvalidInputPolicy = .error
    ) throws -> InputPort {
        try Ports.checkFileArguments(descriptor: descriptor, bufferCapacity: bufferCapacity)
        return try open(
            source: .descriptor(descriptor), closesDescriptor: closesDescriptor,
            encoding: encoding, bufferCapacity: bufferCapacity, invalidInput: invalidInput)
    }

    private static func open(
        source: InputPortState.Source, closesDescriptor: Bool, encoding: String, bufferCapacity: Int,
        invalidInput: InvalidInputPolicy
    ) throws -> InputPort {
        let resource = try PortResource<InputPortState>(
            encoding: encoding, direction: .decoding, kind: try Ports.state().kinds.input
        ) { converter, _ in
            InputPortState(
                source: source, closesDescriptor: closesDescriptor, bufferCapacity: bufferCapacity,
                invalidInput: invalidInput, converter: converter)
        }
        return InputPort(encoding: encoding, bufferCapacity: bufferCapacity, resource: resource)
    }

    /// Reads up to `count` characters (Guile's `read-string` with a count).
    ///
    /// Characters are Swift `Character`s (extended grapheme clusters). A
    /// character is returned once the text after it, or the end of the
    /// input, shows that it is whole: on a pipe or a terminal the read waits
    /// for the next character (``readLine()`` does not).
    ///
    /// - Parameter count: Characters wanted, 0 or more (`Int.max` reads to
    ///   the end of the input).
    /// - Returns: `count` characters; fewer only at the end of the input or
    ///   before invalid input (the next read then throws); "" at the end.
    /// - Throws: ``PortError/invalidArgument(_:)`` for a negative count;
    ///   ``PortError/invalidInput(byteOffset:)`` when invalid input comes
    ///   before the first character; ``PortError/closed``;
    ///   ``PortError/inUseAtFork``; ``PortError/system(operation:errno:)``
    ///   when read(2) or iconv(3) fails (nothing is consumed).
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func read(count: Int) throws(PortError) -> String {
        guard count >= 0 else { throw .invalidArgument("count \(count) is negative") }
        if count == 0 { return "" }
        return try withState { port throws(PortError) in
            let (byteCount, found) = try port.scanCharacters(count)
            if found == 0, let error = port.pendingError { throw error }
            return port.take(byteCount)
        }
    }

    /// Reads one character (Guile's `read-char`).
    ///
    /// - Returns: The next character (an extended grapheme cluster), or nil
    ///   at the end of the input.
    /// - Throws: As ``read(count:)``.
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func readCharacter() throws(PortError) -> Character? {
        let text = try read(count: 1)
        return text.first
    }

    /// The next character, left to be read again (Guile's `peek-char`).
    ///
    /// The position (``line``, ``column``) does not move.
    ///
    /// - Returns: The next character (an extended grapheme cluster), or nil
    ///   at the end of the input.
    /// - Throws: As ``read(count:)``.
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func peekCharacter() throws(PortError) -> Character? {
        try withState { port throws(PortError) in
            let (byteCount, found) = try port.scanCharacters(1)
            if found == 0 {
                if let error = port.pendingError { throw error }
                return nil
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: port.text.readable[..<byteCount]), as: UTF8.self)
                .first
        }
    }

    /// Reads a line (Guile's `read-line`): the text up to a line feed, or a
    /// carriage return and a line feed, without them.
    ///
    /// - Returns: The line; the last line of the input may have no
    ///   terminator; nil at the end of the input.
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` when invalid input
    ///   comes before the line's end (nothing is consumed: the text before
    ///   it can be read with ``read(count:)`` or ``readAvailable()``);
    ///   ``PortError/closed``; ``PortError/inUseAtFork``;
    ///   ``PortError/system(operation:errno:)`` when read(2) or iconv(3)
    ///   fails.
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func readLine() throws(PortError) -> String? {
        try withState { port throws(PortError) in try port.readLine() }
    }

    /// Reads everything to the end of the input (Guile's `get-string-all`).
    ///
    /// The whole rest of the input is decoded into the port's text buffer
    /// first, so the buffer grows to the size of the text.
    ///
    /// - Returns: The rest of the text ("" at the end).
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` when the rest of the
    ///   input holds invalid input anywhere (nothing is consumed: the text
    ///   before it can be read with ``read(count:)`` or
    ///   ``readAvailable()``); ``PortError/closed``;
    ///   ``PortError/inUseAtFork``; ``PortError/system(operation:errno:)``
    ///   when read(2) or iconv(3) fails.
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func readAll() throws(PortError) -> String {
        try withState { port throws(PortError) in try port.readAll() }
    }

    /// Reads the text decoded so far, decoding the next block first if none
    /// is.
    ///
    /// The fastest way through a large input: typically the text of one
    /// block (``bufferCapacity`` bytes of input) at a time. The text may end
    /// inside a grapheme cluster (a combining mark may begin the next
    /// result); it never ends inside a Unicode scalar.
    ///
    /// - Returns: At least one scalar of text, or nil at the end of the
    ///   input.
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` when invalid input
    ///   comes before any text; ``PortError/closed``;
    ///   ``PortError/inUseAtFork``; ``PortError/system(operation:errno:)``
    ///   when read(2) or iconv(3) fails.
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func readAvailable() throws(PortError) -> String? {
        try withState { port throws(PortError) in try port.readAvailable() }
    }

    /// Reads the text decoded so far as UTF-8 bytes, decoding the next block
    /// first if none is.
    ///
    /// No `String` is made (which would check the bytes once more): this is
    /// for passing text on, such as to ``OutputPort/write(utf8Bytes:)``; see
    /// <doc:Transcoding>.
    ///
    /// - Returns: The UTF-8 of at least one scalar (never a part of one), or
    ///   nil at the end of the input.
    /// - Throws: As ``readAvailable()``.
    ///
    /// The corresponding C functions are `read` and `iconv`.
    public func readAvailableUTF8() throws(PortError) -> [UInt8]? {
        try withState { port throws(PortError) in try port.readAvailableUTF8() }
    }

    /// The lines of the rest of the input, read as the sequence is iterated.
    ///
    /// Each element is a line as ``readLine()`` returns it. Iteration ends
    /// at the end of the input, or at the first error, which is then in
    /// ``Lines/error`` (after invalid input, the port's next read throws it
    /// again).
    public var lines: Lines { Lines(port: self) }

    /// Closes the port (Guile's `close-port`).
    ///
    /// Gives its converter back (or closes it), closes the descriptor if the
    /// port owns it, removes its open-ports table entry and gives its
    /// foreign bytes back. Text not read is dropped. Closing a closed port
    /// does nothing; so does closing, in a forked child, a port that another
    /// thread of the parent was using at the fork (it stays open).
    ///
    /// The corresponding C functions are `iconv_close` (for a converter of
    /// its own, and one the pool cannot keep) and `close`.
    public func close() {
        resource.close()
    }

    /// Whether ``close()`` closed the port (false for a port abandoned at a
    /// fork, which cannot be closed).
    ///
    /// Takes the port's lock, so it waits for a read in progress on another
    /// thread.
    public var isClosed: Bool { resource.isClosed }

    /// The port's GC object: the key of its open-ports table entry.
    ///
    /// A small pointer-free GC object that stands for the port; the
    /// collector tracks it, and this Swift object roots it (through a
    /// `GCRoot`). Store it in other GC objects to keep the port from being
    /// released as long as they are reachable.
    public var object: GCRoot { resource.object }

    /// Lines read so far: newlines, counted from 0, as Guile's `port-line`.
    public var line: Int { resource.position.line }

    /// The column of the next character to read, from 0, as Guile's
    /// `port-column`: a newline or carriage return goes back to 0, a tab to
    /// the next multiple of 8, a backspace back one (not before 0), a bell
    /// does not move, every other Unicode scalar forward one.
    public var column: Int { resource.position.column }

    /// Foreign bytes reported for the port now, in bytes of malloc.
    ///
    /// They are its buffers, the bytes of a bytes port and the Swift objects
    /// behind it; the converter while it holds one (from open with
    /// ``Ports/ConverterPolicy/perPort``; from its first read to close for a
    /// stateful encoding; never for a stateless encoding with
    /// ``Ports/ConverterPolicy/pooled``); and its buffers' growth. 0 when
    /// ``Ports/Configuration/accountsForeignMemory`` is off, and once the
    /// port is closed. Takes the port's lock, so it waits for a read in
    /// progress on another thread.
    public var foreignByteCount: Int { resource.foreignByteCount }

    /// Runs `body` with the state under the port's lock, and settles the
    /// port's buffers and account after it.
    private func withState<R>(_ body: (inout InputPortState) throws(PortError) -> R) throws(PortError) -> R {
        try resource.withState { port throws(PortError) in
            defer { port.settle() }
            return try body(&port)
        }
    }
}

extension InputPort {
    /// The lines of an input port, read as they are iterated.
    ///
    /// Each call of ``next()`` reads a line with ``InputPort/readLine()``.
    /// Copies of a `Lines` value share one ``error``, and read from the same
    /// port. Not `Sendable`: iterate it on one thread.
    public struct Lines: Sequence, IteratorProtocol {
        private let port: InputPort
        private let box = ErrorBox()

        init(port: InputPort) {
            self.port = port
        }

        /// The error that ended the iteration, if one did.
        public var error: PortError? { box.error }

        /// The next line, or nil at the end of the input or after an error.
        public mutating func next() -> String? {
            guard box.error == nil else { return nil }
            do {
                return try port.readLine()
            } catch {
                box.error = error
                return nil
            }
        }
    }

    private final class ErrorBox {
        var error: PortError?
    }
}
