import BoehmGC
import Synchronization

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
internal final class ConverterSlot: @unchecked Sendable {
    enum Mode {
        case identity
        case borrowedPerOperation
        case heldFromFirstUse
        case ownedForLife
    }

    let pool: ConverterPool
    let mode: Mode
    private(set) var held: iconv_t?

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

    /// Malloc bytes of the converter the port holds now beyond those counted
    /// at open: 0 when it holds none, and for a converter of its own for
    /// life (the port's resource counts that one from open).
    var heldBytes: Int { held == nil || mode == .ownedForLife ? 0 : pool.converterBytes }

    /// Whether the port's converter keeps state from one operation to the
    /// next (it is the port's own: held or owned).
    var keepsState: Bool { mode == .heldFromFirstUse || mode == .ownedForLife }

    /// UTF-8 itself: no converter, validate and copy.
    var isIdentity: Bool { mode == .identity }

    /// Runs `body` with the port's converter, or a borrowed one.
    ///
    /// `body` learns whether the converter is borrowed: it must then leave
    /// it in its initial state (a borrowed converter is reset and given back
    /// when `body` returns).
    func withConverter<R>(_ body: (iconv_t, _ borrowed: Bool) throws(PortError) -> R) throws(PortError) -> R {
        if let held { return try body(held, false) }
        switch mode {
        case .identity:
            preconditionFailure("a UTF-8 port has no converter")
        case .borrowedPerOperation:
            let converter = try pool.take()
            defer { pool.put(converter) }
            return try body(converter, true)
        case .heldFromFirstUse, .ownedForLife:
            let converter = try pool.take()
            held = converter
            return try body(converter, false)
        }
    }

    /// Gives the held converter back to the pool (pooled) or closes it (one
    /// per port).
    ///
    /// The slot holds none afterwards.
    func release() {
        guard let converter = held else { return }
        held = nil
        if mode == .ownedForLife {
            Iconv.close(converter)
        } else {
            pool.put(converter)
        }
    }
}

/// The foreign bytes a port reports beyond those of its
/// ``ForeignResource`` (fixed at open).
///
/// They are the converter it holds, and its buffers' growth. Changed under
/// the port's lock; read from anywhere.
internal final class PortAccount: Sendable {
    let isEnabled: Bool
    /// What this account reported to ForeignMemory and has not given back,
    /// with the collection window it was reported in.
    private let reported = Lock(ForeignMemory.Allocation.none)

    init(isEnabled: Bool) {
        self.isEnabled = isEnabled
    }

    var bytes: Int { reported.withLock { $0.byteCount } }

    /// Reports `bytes` as what the port holds beyond its base.
    ///
    /// Adds or removes the difference. A report the accounting refuses (its
    /// live counts at Int.max) leaves the account as it was.
    func update(to bytes: Int) {
        guard isEnabled else { return }
        reported.withLock { reported in
            if bytes > reported.byteCount {
                guard let added = try? ForeignMemory.add(byteCount: bytes - reported.byteCount, objects: 0) else {
                    return
                }
                reported = reported.adding(added)
            } else if bytes < reported.byteCount {
                do {
                    try ForeignMemory.remove(reported.part(byteCount: reported.byteCount - bytes))
                } catch {
                    assertionFailure("port accounting out of balance: \(error)")
                }
                reported = reported.part(byteCount: bytes)
            }
        }
    }
}
