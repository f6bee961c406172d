import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// Where a port gets its converter.
///
/// It depends on ``Ports/ConverterPolicy`` and the encoding:
/// - pooled, stateless encoding: borrowed from the pool for each operation
///   and given back at its end, so the port holds none in between;
/// - pooled, stateful encoding: taken from the pool at the first operation
///   and given back when the port is released (closed, or found dropped);
/// - one per port: opened with the port, closed when it is released;
/// - UTF-8 itself: none at all (the port validates and copies).
///
/// Used only under its port's lock, or by the port's release function
/// (which runs once, after the port's handle was taken out of that lock).
/// It lives in the port's record (a GC object), so it holds no counted
/// reference: its pool lives as long as the process.
internal struct ConverterSlot {
    enum Mode: UInt8 {
        case identity
        case borrowedPerOperation
        case heldFromFirstUse
        case ownedForLife
    }

    /// Pools are never freed (``ConverterPool/named(_:_:)`` keeps each for
    /// the life of the process).
    unowned(unsafe) let pool: ConverterPool
    private(set) var held: iconv_t?
    let mode: Mode

    init(pool: ConverterPool, policy: Ports.ConverterPolicy) throws(PortError) {
        self.pool = pool
        if pool.isIdentity {
            mode = .identity
            return
        }
        switch policy {
        case .perPort:
            mode = .ownedForLife
            held = try pool.open()
        case .pooled:
            mode = pool.isStateless ? .borrowedPerOperation : .heldFromFirstUse
        }
    }

    /// Malloc bytes of the converter the port holds now: 0 when it holds
    /// none.
    var heldBytes: Int { held == nil ? 0 : pool.converterBytes }

    /// Whether the port's converter keeps state from one operation to the
    /// next (it is the port's own: held or owned).
    var keepsState: Bool { mode == .heldFromFirstUse || mode == .ownedForLife }

    /// UTF-8 itself: no converter, validate and copy.
    var isIdentity: Bool { mode == .identity }

    /// The converter for one operation: the port's own (taken from the
    /// pool at its first use), or, `borrowed`, one from the pool.
    ///
    /// The caller must leave a borrowed converter in its initial state and
    /// give it back with ``endUse(_:borrowed:)``.
    mutating func beginUse() throws(PortError) -> (converter: iconv_t, borrowed: Bool) {
        if let held { return (held, false) }
        switch mode {
        case .identity:
            preconditionFailure("a UTF-8 port has no converter")
        case .borrowedPerOperation:
            return (try pool.take(), true)
        case .heldFromFirstUse, .ownedForLife:
            let converter = try pool.take()
            held = converter
            return (converter, false)
        }
    }

    /// Ends an operation begun with ``beginUse()``: a borrowed converter
    /// goes back to the pool (reset there).
    func endUse(_ converter: iconv_t, borrowed: Bool) {
        if borrowed { pool.put(converter) }
    }

    /// Gives the held converter back to the pool (pooled) or closes it (one
    /// per port).
    ///
    /// The slot holds none afterwards.
    mutating func release() {
        guard let converter = held else { return }
        held = nil
        if mode == .ownedForLife {
            Iconv.close(converter)
        } else {
            pool.put(converter)
        }
    }
}
