import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// A text output port: text written to it is encoded with iconv into a
/// chosen encoding, and collected in memory (a string port) or written to a
/// file descriptor through a buffer (a file port).
///
/// Every open port is in the process's open-ports table (see ``Ports``), a
/// weak-keyed table: ``Ports/flushAll()`` (also run at process exit) reaches
/// every file port still open, while a port that is dropped unclosed can be
/// collected. When it is, the table's vacuum flushes it, closes its
/// converter (and its descriptor, if the port owns it) and gives its foreign
/// bytes back to ``ExternalMemory``; no libgc finalizer is registered per
/// port.
///
/// The port's GC object (``object``) is what the collector tracks; this
/// Swift value roots it. Store ``object`` in other GC objects to keep the
/// port open as long as they are reachable. Writes are serialised by a lock
/// per port, so a port can be shared between threads.
///
/// ```swift
/// let bytes = try withOutputToString(encoding: "ISO-8859-15") { port in
///     try port.write("10 €\n")
/// }   // [0x31, 0x30, 0x20, 0xA4, 0x0A]
/// ```
public final class OutputPort: Sendable {
    /// The encoding name given to iconv.
    public let encoding: String
    internal let resource: ForeignResource<PortCore>

    private init(encoding: String, resource: ForeignResource<PortCore>) {
        self.encoding = encoding
        self.resource = resource
    }

    /// Opens a string port: output is kept in memory, read with
    /// ``contents()``.
    ///
    /// - Parameters:
    ///   - encoding: An iconv encoding name, such as "ISO-8859-15" or "UTF-16LE".
    ///   - invalidInput: What to do with text the encoding cannot represent.
    /// - Throws: ``PortError/unknownEncoding(_:)``,
    ///   ``PortError/unencodableReplacement(_:)``, or
    ///   ``GCError/outOfMemory(byteCount:)``.
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
    ///   - descriptor: An open file descriptor to write to.
    ///   - encoding: An iconv encoding name.
    ///   - closesDescriptor: Whether closing the port (or collecting it)
    ///     closes the descriptor too.
    ///   - bufferCapacity: Bytes buffered before a write(2).
    ///   - invalidInput: What to do with text the encoding cannot represent.
    /// - Throws: ``PortError/unknownEncoding(_:)``,
    ///   ``PortError/unencodableReplacement(_:)``,
    ///   ``GCError/outOfMemory(byteCount:)``.
    public static func openFile(
        descriptor: Int32, encoding: String, closesDescriptor: Bool = false,
        bufferCapacity: Int = 4096, invalidInput: InvalidInputPolicy = .error
    ) throws -> OutputPort {
        precondition(descriptor >= 0, "a file port needs an open descriptor")
        precondition(bufferCapacity > 0, "a file port needs a buffer")
        return try open(
            encoding: encoding, descriptor: descriptor, closesDescriptor: closesDescriptor,
            bufferCapacity: bufferCapacity, invalidInput: invalidInput)
    }

    private static func open(
        encoding: String, descriptor: Int32, closesDescriptor: Bool, bufferCapacity: Int,
        invalidInput: InvalidInputPolicy
    ) throws -> OutputPort {
        let state = Ports.state
        let pool = try ConverterPool.named(encoding)
        let shares = state.configuration.sharesConverters && pool.isStateless
        let resource = try ForeignResource<PortCore>(
            byteCount: (shares ? 0 : pool.converterBytes) + bufferCapacity + Ports.portObjectBytes,
            accounted: state.configuration.accountsForeignMemory,
            release: state.release,
            open: {
                let source: ConverterSource = shares ? .shared(pool) : .owned(try Iconv.open(encoding))
                do {
                    return try PortCore(
                        source: source, descriptor: descriptor, closesDescriptor: closesDescriptor,
                        bufferCapacity: bufferCapacity, invalidInput: invalidInput)
                } catch {
                    if case .owned(let converter) = source { Iconv.close(converter) }
                    throw error
                }
            },
            close: { PortCore.release($0) })
        PortCounters.opened.add(1, ordering: .relaxed)
        return OutputPort(encoding: encoding, resource: resource)
    }

    /// Writes `text`, encoded.
    ///
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` (policy
    ///   ``InvalidInputPolicy/error``; nothing of `text` is written),
    ///   ``PortError/closed``, ``PortError/system(operation:errno:)`` when a
    ///   file port's buffer cannot be written.
    public func write(_ text: String) throws(PortError) {
        var text = text
        var failure: PortError?
        text.withUTF8 { utf8 in
            do throws(PortError) {
                try write(utf8Bytes: UnsafeRawBufferPointer(utf8))
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Writes bytes that should be UTF-8, encoded; bytes that are not UTF-8
    /// follow the port's ``InvalidInputPolicy``.
    ///
    /// - Throws: as ``write(_:)``.
    public func write(utf8Bytes: UnsafeRawBufferPointer) throws(PortError) {
        try withCore { core throws(PortError) in try core.write(utf8Bytes) }
    }

    /// Writes a file port's buffer to its descriptor (nothing for a string port).
    ///
    /// - Throws: ``PortError/closed``, ``PortError/system(operation:errno:)``.
    public func flush() throws(PortError) {
        try withCore { core throws(PortError) in try core.flush() }
    }

    /// The encoded output of a string port so far, ending in the initial
    /// shift state (empty for a file port).
    ///
    /// - Throws: ``PortError/closed``.
    public func contents() throws(PortError) -> [UInt8] {
        try withCore { core in
            guard !core.isFilePort else { return [] }
            core.finishShiftState()
            return core.buffer
        }
    }

    /// Flushes and closes the port: frees its converter (and its descriptor
    /// if the port owns it) and gives its foreign bytes back. Closing a
    /// closed port does nothing.
    ///
    /// - Throws: ``PortError/system(operation:errno:)`` if the final flush
    ///   failed; the port is closed anyway.
    public func close() throws(PortError) {
        var failure: PortError?
        do {
            try withCore { core throws(PortError) in
                core.finishShiftState()
                try core.flush()
            }
        } catch .closed {
            return
        } catch {
            failure = error
        }
        if resource.close() { PortCounters.closedExplicitly.add(1, ordering: .relaxed) }
        if let failure { throw failure }
    }

    /// Whether the port is closed.
    public var isClosed: Bool { resource.isClosed }

    /// The port's GC object: the key of its open-ports table entry.
    public var object: GCRoot { resource.object }

    /// Foreign bytes reported for the port: its converter (measured once per
    /// encoding; none when it borrows shared converters), its initial
    /// buffer, and the Swift objects behind it.
    public var foreignByteCount: Int { resource.byteCount }

    private func withCore<R>(_ body: (PortCore) throws(PortError) -> R) throws(PortError) -> R {
        do {
            return try resource.withHandle { core in try body(core) }
        } catch let error as PortError {
            throw error
        } catch ForeignResourceError.inUseAtFork {
            throw .inUseAtFork
        } catch {
            // ForeignResourceError.closed is the only other error.
            throw .closed
        }
    }
}
