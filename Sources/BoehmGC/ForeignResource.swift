internal import CBoehmGC
internal import CGCSupport
import Synchronization

/// A GC object that owns a foreign handle (an `iconv_t`, a file descriptor,
/// a malloc'd buffer) and the function that closes it.
///
/// The handle is closed exactly once: by ``close()``, or, when the resource
/// is dropped unclosed, after the collection that finds its GC object
/// (``object``) unreachable. Its foreign bytes are reported to
/// ``ExternalMemory`` when it opens and given back exactly once when it
/// closes. Using it after close throws ``ForeignResourceError/closed``.
///
/// The resource is alive while its ``object`` is reachable: while this
/// Swift value is alive (it holds a ``GCRoot``), or while a reachable GC
/// object refers to ``object``. The Swift wrapper itself is the only way to
/// the handle.
///
/// How a dropped resource is released is chosen per resource:
/// - ``Release/registry(_:)``: an entry in a ``ForeignResourceRegistry``, a
///   weak-keyed ``GCWeakTable`` whose vacuum closes the handles of dead
///   entries. Nothing is registered with libgc per resource.
/// - ``Release/finalizer``: a libgc finalizer per resource.
///
/// Prefer the registry: libgc forces a full collection before its
/// finalizer table grows past 4,096 entries, so with tens of MB of live heap
/// one finalizer per short-lived resource costs a full collection every few
/// thousand resources (see the README for the figures).
public final class ForeignResource<Handle: Sendable>: Sendable {
    /// How a resource dropped unclosed is released.
    public enum Release: Sendable {
        /// By a libgc finalizer registered for the resource's object.
        case finalizer
        /// By the vacuum of the registry's weak table.
        case registry(ForeignResourceRegistry)
    }

    /// The GC object that stands for the resource: store it in other GC
    /// objects to keep the resource open while they are reachable.
    public let object: GCRoot
    /// Foreign bytes reported to ``ExternalMemory`` for this resource (0 when
    /// not accounted).
    public let byteCount: Int
    internal let core: ForeignResourceCore<Handle>
    private let release: Release

    /// Opens a resource.
    ///
    /// - Parameters:
    ///   - byteCount: Foreign bytes the handle holds. When nil, they are
    ///     measured: the process's malloc bytes in use (glibc `mallinfo2`)
    ///     before and after `open`. The measure is process-wide, so
    ///     allocation by other threads at the same time skews it; measure
    ///     once per kind of handle and pass the figure when opening many.
    ///   - accounted: Whether to report `byteCount` to ``ExternalMemory``.
    ///   - release: How the resource is released when dropped unclosed.
    ///   - objectByteCount: Size of ``object`` (a pointer-free GC object).
    ///   - open: Creates the handle. If it throws, nothing is registered.
    ///   - close: Closes the handle; called exactly once, on the thread that
    ///     calls ``close()``, or on the finalizer thread, or where the
    ///     registry vacuums. It must not throw or use this resource.
    /// - Throws: What `open` throws; ``GCError/outOfMemory(byteCount:)`` if
    ///   the GC object or the registry entry cannot be allocated (the handle
    ///   is then closed again).
    public init(
        byteCount: Int? = nil,
        accounted: Bool = true,
        release: Release,
        objectByteCount: Int = 16,
        open: () throws -> Handle,
        close: @escaping @Sendable (Handle) -> Void
    ) throws {
        enterCollector()
        let before = byteCount == nil ? cgc_malloc_in_use_bytes() : 0
        let handle = try open()
        let measured = byteCount ?? max(0, Int(cgc_malloc_in_use_bytes()) - Int(before))
        let object: GCRoot
        do {
            object = try GCRoot(byteCount: max(objectByteCount, 8), kind: .pointerFree)
        } catch {
            close(handle)
            throw error
        }
        let core = ForeignResourceCore(handle: handle, close: close, accountedBytes: accounted ? measured : nil)
        if accounted {
            do {
                try ExternalMemory.add(byteCount: measured, objects: 1)
            } catch {
                close(handle)
                throw error
            }
        }
        do {
            switch release {
            case .finalizer:
                try object.setFinalizer { [core] _ in core.closeFromCollector() }
            case .registry(let registry):
                try registry.register(core, for: object)
            }
        } catch {
            _ = core.close()
            throw error
        }
        ForeignResourceCounters.opened.add(1, ordering: .relaxed)
        self.object = object
        self.byteCount = accounted ? measured : 0
        self.core = core
        self.release = release
    }

    /// Calls `body` with the handle. Calls are serialised: the resource's
    /// lock is held while `body` runs, so `body` must not close or use this
    /// resource again.
    ///
    /// - Throws: ``ForeignResourceError/closed`` after close; what `body`
    ///   throws.
    public func withHandle<R>(_ body: (Handle) throws -> R) throws -> R {
        let result = try core.withHandle(body)
        withExtendedLifetime(object) {}
        return result
    }

    /// Closes the handle and gives its bytes back, unless already closed.
    ///
    /// - Returns: Whether this call closed it (false when it was closed
    ///   before: a second close is harmless).
    @discardableResult
    public func close() -> Bool {
        guard core.close() else { return false }
        ForeignResourceCounters.closedExplicitly.add(1, ordering: .relaxed)
        // The handle is closed; drop what would have closed it on collection.
        switch release {
        case .finalizer:
            object.removeFinalizer()
        case .registry(let registry):
            registry.unregister(object)
        }
        return true
    }

    /// Whether the handle has been closed.
    public var isClosed: Bool { core.isClosed }
}

/// Misuse of a foreign resource.
public enum ForeignResourceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The resource was used after it was closed.
    case closed
    /// In a forked child: another thread of the parent was using the
    /// resource when the process forked, so its lock is never released here
    /// and the resource cannot be used (or closed) in this process.
    case inUseAtFork

    public var description: String {
        switch self {
        case .closed: return "the foreign resource is closed"
        case .inUseAtFork: return "the foreign resource was in use by another thread when the process forked"
        }
    }
}

/// Counters over all foreign resources of the process.
public enum ForeignResources {
    /// A snapshot of the counters.
    public struct Statistics: Sendable, Equatable {
        /// Resources opened.
        public var opened: Int
        /// Resources closed by ``ForeignResource/close()``.
        public var closedExplicitly: Int
        /// Resources closed after they were found unreachable (finalizer or
        /// registry vacuum).
        public var releasedByCollector: Int
        /// Opened and not yet closed.
        public var open: Int { opened - closedExplicitly - releasedByCollector }
    }

    /// The counters now.
    public static var statistics: Statistics {
        Statistics(
            opened: ForeignResourceCounters.opened.load(ordering: .relaxed),
            closedExplicitly: ForeignResourceCounters.closedExplicitly.load(ordering: .relaxed),
            releasedByCollector: ForeignResourceCounters.releasedByCollector.load(ordering: .relaxed))
    }

    /// Process malloc bytes in use (glibc `mallinfo2`): arena bytes in use
    /// plus mmapped chunks. Take the difference around a call to measure
    /// what it allocated.
    public static var mallocBytesInUse: Int { Int(cgc_malloc_in_use_bytes()) }
}

internal enum ForeignResourceCounters {
    static let opened = Atomic<Int>(0)
    static let closedExplicitly = Atomic<Int>(0)
    static let releasedByCollector = Atomic<Int>(0)
}

/// What a registry entry or a finalizer keeps: the handle and how to close
/// it, without the handle's type.
internal class ForeignResourceCoreBase: @unchecked Sendable {
    /// Closes the handle because its object was found unreachable.
    func closeFromCollector() {
        fatalError("subclass responsibility")
    }
}

/// The handle, its close function and its accounted bytes. `state` holds
/// the handle until close; it is the lock that serialises every use.
internal final class ForeignResourceCore<Handle: Sendable>: ForeignResourceCoreBase, @unchecked Sendable {
    // Every mutable field is inside `state` (a HandleLock); the rest are `let`.
    private let state: HandleLock<Handle?>
    private let closeHandle: @Sendable (Handle) -> Void
    /// Bytes reported to ExternalMemory (with one object), nil if none.
    let accountedBytes: Int?

    init(handle: Handle, close: @escaping @Sendable (Handle) -> Void, accountedBytes: Int?) {
        state = HandleLock(handle)
        closeHandle = close
        self.accountedBytes = accountedBytes
    }

    func withHandle<R>(_ body: (Handle) throws -> R) throws -> R {
        try state.withLock { handle throws -> R in
            guard let handle else { throw ForeignResourceError.closed }
            return try body(handle)
        }
    }

    /// Runs `body` if the handle is still open (and usable in this process:
    /// not abandoned at a fork); returns whether it ran.
    func withOpenHandle(_ body: (Handle) throws -> Void) rethrows -> Bool {
        try state.withLockIfUsable { handle in
            guard let handle else { return false }
            try body(handle)
            return true
        } ?? false
    }

    /// Whether the handle is closed (false for one abandoned at a fork).
    var isClosed: Bool { (try? state.withLock { $0 == nil }) ?? false }

    /// Closes the handle and returns the bytes, once; false if already
    /// closed, or abandoned at a fork (its handle is then left alone).
    func close() -> Bool {
        let taken = try? state.withLock { handle -> Handle? in
            let taken = handle
            handle = nil
            return taken
        }
        guard let handle = taken else { return false }
        closeHandle(handle)
        if let accountedBytes {
            do {
                try ExternalMemory.remove(byteCount: accountedBytes, objects: 1)
            } catch {
                // Each core adds its bytes once and removes them once.
                assertionFailure("foreign accounting out of balance: \(error)")
            }
        }
        return true
    }

    override func closeFromCollector() {
        if close() { ForeignResourceCounters.releasedByCollector.add(1, ordering: .relaxed) }
    }
}
