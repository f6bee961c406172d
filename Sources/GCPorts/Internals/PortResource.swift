import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// What ``PortResource`` needs of a port's core, input (``InputPortCore``)
/// or output (``OutputPortCore``).
internal protocol PortCore: AnyObject, Sendable {
    /// Where the port gets its converter; released with the port.
    var converter: ConverterSlot { get set }
    /// The foreign bytes the port reports beyond its resource's fixed ones;
    /// back to 0 when the port is released.
    var account: PortAccount { get set }
    /// The descriptor closed when the port is released: the port's own, if
    /// it owns one.
    var ownedDescriptor: Int32? { get }
    /// The first step of the release, while the port still has its
    /// converter and descriptor (an output port ends and flushes its
    /// output). It must not throw.
    func prepareForRelease()
}

extension PortCore {
    /// Runs `body` with the port's converter, or a borrowed one.
    ///
    /// `body` learns whether the converter is borrowed: it must then leave
    /// it in its initial state (a borrowed converter is reset and given back
    /// when `body` returns). Under the port's lock.
    func withConverter<R>(_ body: (iconv_t, _ borrowed: Bool) throws(PortError) -> R) throws(PortError) -> R {
        let (converter, borrowed) = try self.converter.beginUse()
        defer { self.converter.endUse(converter, borrowed: borrowed) }
        return try body(converter, borrowed)
    }
}

/// A port's foreign resource, whose handle is the port's core: the opening,
/// locking, measuring and release that ``InputPort`` and ``OutputPort``
/// share.
///
/// The resource is registered in the open-ports table (``Ports``), so a
/// port dropped unclosed is released by the table's vacuum once the
/// collector finds its ``object`` unreachable. Every use of the core goes
/// through ``withCore(_:)``, under the resource's lock. The release runs
/// exactly once (from ``close()`` or from the vacuum), after the core was
/// taken out of that lock.
internal struct PortResource<Core: PortCore>: Sendable {
    let resource: ForeignResource<Core>
    let core: Core

    /// Opens a port's resource and makes its core.
    ///
    /// - Parameters:
    ///   - encoding: An iconv encoding name.
    ///   - direction: ``ConversionDirection/encoding`` for an output port,
    ///     ``ConversionDirection/decoding`` for an input port.
    ///   - byteCount: The port's foreign bytes besides a converter of its
    ///     own: its buffers, a bytes port's input, the Swift objects behind
    ///     it. A converter of its own (``Ports/ConverterPolicy/perPort``) is
    ///     added to them.
    ///   - makeCore: Makes the core with the port's converter slot and
    ///     account; if it throws, the slot is released and nothing stays
    ///     registered.
    /// - Throws: ``PortError/unknownEncoding(_:)``, what `makeCore` throws,
    ///   ``GCError/outOfMemory(byteCount:)``.
    init(
        encoding: String, direction: ConversionDirection, byteCount: Int,
        makeCore: (ConverterSlot, PortAccount) throws(PortError) -> Core
    ) throws {
        let state = Ports.state
        let configuration = state.configuration
        let pool = try ConverterPool.named(encoding, direction)
        let ownsConverter = configuration.converters == .perPort && !pool.isIdentity
        let account = PortAccount(isEnabled: configuration.accountsForeignMemory)
        var opened: Core?
        resource = try ForeignResource<Core>(
            byteCount: (ownsConverter ? pool.converterBytes : 0) + byteCount,
            accounted: configuration.accountsForeignMemory,
            release: .registry(state.registry),
            open: {
                var slot = try ConverterSlot(pool: pool, policy: configuration.converters)
                do {
                    let core = try makeCore(slot, account)
                    opened = core
                    return core
                } catch {
                    slot.release()
                    throw error
                }
            },
            close: { PortResource.release($0) })
        // The resource exists only if `open` returned a core.
        core = opened!
        PortCounters.opened.add(1, ordering: .relaxed)
    }

    /// Runs `body` with the core, under the resource's lock.
    ///
    /// - Throws: What `body` throws; ``PortError/closed`` after close;
    ///   ``PortError/inUseAtFork`` in a forked child when another thread of
    ///   the parent was using the port at the fork.
    func withCore<R>(_ body: (Core) throws(PortError) -> R) throws(PortError) -> R {
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

    /// Releases the port now, unless it was released before, and counts an
    /// explicit close.
    func close() {
        if resource.close() { PortCounters.closedExplicitly.add(1, ordering: .relaxed) }
    }

    var isClosed: Bool { resource.isClosed }

    var object: GCRoot { resource.object }

    /// The resource's fixed bytes (0 once released) and what the account
    /// reports beyond them.
    var foreignByteCount: Int { resource.byteCount + ((try? withCore { $0.account.bytes }) ?? 0) }

    /// The resource's close function.
    private static func release(_ core: Core) {
        core.prepareForRelease()
        core.converter.release()
        if let descriptor = core.ownedDescriptor { _ = Glibc.close(descriptor) }
        core.account.update(to: 0)
        PortCounters.released.add(1, ordering: .relaxed)
    }
}
