import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// What ``PortResource`` needs of a port's state, input
/// (``InputPortState``) or output (``OutputPortState``).
internal protocol PortState: ~Copyable {
    /// The malloc bytes the port holds now: what it reports to
    /// `ForeignMemory` (its record is GC memory, which the collector counts
    /// itself). The one place that says what a port of this kind reports.
    var foreignByteCount: Int { get }
    /// Whether the port holds anything its release must give back or do:
    /// memory outside the GC heap (its ``foreignByteCount``), a converter, a
    /// descriptor or output to flush, bytes held from the last write, a
    /// replacement text. A port that holds none needs no release when it is
    /// dropped: its record goes with its GC object.
    var needsRelease: Bool { get }
    /// The port's line and column, read without its lock.
    func loadPosition() -> PortPosition
    /// Releases what the port holds (converter, descriptor, buffers), once,
    /// after it was closed or found dropped; the state stays valid and
    /// holds nothing. It must not throw.
    mutating func release()
}

/// A port's foreign resource: the opening, locking and accounting that
/// ``InputPort`` and ``OutputPort`` share.
///
/// The port's state lives in the resource's record, one pointer-free GC
/// object (`BoehmGC`'s `ForeignResourceRecord`), with a string port's first
/// bytes of output after it: a port allocates no malloc memory of its own
/// until its buffer outgrows the record. The resource is registered in the
/// open-ports table (``Ports``), so a port dropped unclosed is released by
/// the table's vacuum once the collector finds its ``object`` unreachable.
/// Every use of the state goes through ``withState(_:)``, under the
/// record's lock, which also reports what the port holds afterwards. The
/// release is the state's ``PortState/release()``, run exactly once, from
/// ``close()`` or from the vacuum:
///
/// vacuum → `ForeignResourceRegistry`'s dead-entry handler → the record's
/// close → the kind's close (``PortKinds``) → ``PortState/release()`` →
/// ``ConverterSlot/release()`` → ``Iconv/close(_:)`` (`iconv_close`).
internal struct PortResource<State: PortState & ~Copyable>: ~Copyable, Sendable {
    let reference: ForeignResourceReference

    /// Opens a port's resource and makes its state in its record.
    ///
    /// - Parameters:
    ///   - encoding: An iconv encoding name.
    ///   - direction: ``ConversionDirection/encoding`` for an output port,
    ///     ``ConversionDirection/decoding`` for an input port.
    ///   - kind: The kind of port (from ``PortKinds``): how it is released.
    ///   - inlineByteCount: Bytes wanted after the state in the record (a
    ///     string port's first buffer), 0 for none.
    ///   - makeState: Makes the state with the port's converter slot and the
    ///     record's trailing bytes; if it throws, the slot is released and
    ///     nothing stays registered.
    /// - Throws: ``PortError/unknownEncoding(_:)``, what `makeState` throws,
    ///   `GCError.outOfMemory(byteCount:)`.
    init(
        encoding: String, direction: ConversionDirection, kind: ForeignResourceKind, inlineByteCount: Int = 0,
        makeState: (ConverterSlot, UnsafeMutableRawBufferPointer) throws(PortError) -> State
    ) throws {
        let ports = try Ports.state()
        let configuration = ports.configuration
        let pool = try ports.pool(encoding, direction)
        reference = try ForeignResourceReference(
            handleSize: MemoryLayout<State>.stride, handleAlignment: MemoryLayout<State>.alignment,
            accounted: configuration.accountsForeignMemory, registry: ports.registry, kind: kind, ownsKind: false,
            trailingByteCount: inlineByteCount
        ) { handle, inline in
            let state = handle.assumingMemoryBound(to: State.self)
            var slot = try ConverterSlot(pool: pool, policy: configuration.converters)
            do {
                state.initialize(to: try makeState(slot, inline))
            } catch {
                slot.release()
                throw error
            }
            return (state.pointee.foreignByteCount, state.pointee.needsRelease)
        }
    }

    /// The state, in the record (after its header).
    private var state: UnsafeMutablePointer<State> { reference.record.handle.assumingMemoryBound(to: State.self) }

    /// Runs `body` with the state, under the record's lock, then reports
    /// what the port holds (its bytes, and whether its release has work).
    ///
    /// - Throws: What `body` throws; ``PortError/closed`` after close;
    ///   ``PortError/inUseAtFork`` in a forked child when another thread of
    ///   the parent was using the port at the fork.
    @inline(__always)
    func withState<R>(_ body: (inout State) throws(PortError) -> R) throws(PortError) -> R {
        // The record's lock through its plain calls: a generic call into
        // BoehmGC would not be specialised here.
        let record = reference.record
        if let reason = record.lockIfOpen() { throw reason == .closed ? .closed : .inUseAtFork }
        defer {
            // A report the accounting refuses (its live counts at Int.max)
            // leaves the port's account as it was.
            try? record.setByteCountUnderLock(state.pointee.foreignByteCount)
            if state.pointee.needsRelease { reference.keepRecordForRelease() }
            record.unlock()
        }
        return try body(&state.pointee)
    }

    /// Releases the port now, unless it was released before.
    func close() { _ = reference.close() }

    var isClosed: Bool { reference.isClosed }

    /// The port's GC object, newly rooted.
    var object: GCRoot { reference.object }

    /// The foreign bytes reported for the port (0 once released).
    var foreignByteCount: Int { reference.byteCount }

    /// The port's line and column, without its lock.
    var position: PortPosition { state.pointee.loadPosition() }
}

/// The kinds of the ports' records: how each kind of port is released.
internal final class PortKinds: Sendable {
    let output = ForeignResourceKind(handleType: OutputPortState.self) { state in
        state.assumingMemoryBound(to: OutputPortState.self).pointee.release()
    }
    let input = ForeignResourceKind(handleType: InputPortState.self) { state in
        state.assumingMemoryBound(to: InputPortState.self).pointee.release()
    }
}
