import Synchronization

/// A GC object that owns a foreign handle (an `iconv_t`, a file descriptor,
/// a malloc'd buffer) and the function that closes it.
///
/// The handle is closed exactly once: by ``close()``, or, when the resource
/// is dropped unclosed, after the collection that finds its GC object
/// (``object``) unreachable. Its foreign bytes are reported to
/// ``ForeignMemory`` when it opens and given back exactly once when it
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
///
/// In a forked child, a resource that another thread of the parent was
/// using at the fork cannot be used or closed: its calls throw
/// ``ForeignResourceError/inUseAtFork`` instead of waiting for ever. See
/// <doc:ForeignMemoryAndResources>.
public final class ForeignResource<Handle: Sendable>: Sendable {
    /// How a resource dropped unclosed is released.
    public enum Release: Sendable {
        /// By a libgc finalizer registered for the resource's object.
        case finalizer
        /// By the vacuum of the registry's weak table.
        case registry(ForeignResourceRegistry)
    }

    /// The GC object that stands for the resource.
    ///
    /// Store it in other GC objects to keep the resource open while they are
    /// reachable. It is pointer-free: nothing stored in it is traced.
    public let object: GCRoot
    @usableFromInline internal let core: ForeignResourceCore<Handle>
    @usableFromInline internal let release: Release

    /// Opens a resource.
    ///
    /// - Parameters:
    ///   - byteCount: Foreign bytes the handle holds, 0 or more. When nil, they are
    ///     measured: the process's malloc bytes in use (glibc `mallinfo2`)
    ///     before and after `open`. The measure is process-wide, so
    ///     allocation by other threads at the same time skews it; measure
    ///     once per kind of handle and pass the figure when opening many.
    ///   - accounted: Whether to report `byteCount` to ``ForeignMemory``.
    ///   - release: How the resource is released when dropped unclosed.
    ///   - objectByteCount: Size of ``object`` in bytes (a pointer-free GC
    ///     object of at least 8 bytes; 16 by default).
    ///   - open: Creates the handle. If it throws, nothing is registered.
    ///   - close: Closes the handle; called exactly once, on the thread that
    ///     calls ``close()``, or on the finalizer thread, or where the
    ///     registry vacuums. It must not throw or use this resource.
    /// - Throws: What `open` throws; ``GCError/outOfMemory(byteCount:)`` if
    ///   the GC object or the registry entry cannot be allocated;
    ///   ``ForeignMemory/AccountingError`` if the bytes cannot be recorded (a
    ///   negative `byteCount`, or live counts that would pass `Int.max`). In
    ///   every case but the first the handle is closed again and nothing
    ///   stays recorded.
    ///
    /// The corresponding C function is `mallinfo2` (glibc), when `byteCount`
    /// is nil.
    @inlinable
    public init(
        byteCount: Int? = nil,
        accounted: Bool = true,
        release: Release,
        objectByteCount: Int = 16,
        open: () throws -> Handle,
        close: @escaping @Sendable (Handle) -> Void
    ) throws {
        enterCollector()
        let before = byteCount == nil ? shim_mallocInUseBytes() : 0
        let handle = try open()
        let measured = byteCount ?? max(0, Int(shim_mallocInUseBytes()) - Int(before))
        let object: GCRoot
        do {
            object = try GCRoot(byteCount: max(objectByteCount, 8), kind: .pointerFree)
        } catch {
            close(handle)
            throw error
        }
        var allocation: ForeignMemory.Allocation? = nil
        if accounted {
            do {
                allocation = try ForeignMemory.add(byteCount: measured, objects: 1)
            } catch {
                close(handle)
                throw error
            }
        }
        let core = ForeignResourceCore(handle: handle, close: close, allocation: allocation)
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
        self.core = core
        self.release = release
    }

    /// Calls `body` with the handle.
    ///
    /// Calls are serialised: the resource's lock is held while `body` runs,
    /// so `body` must not close or use this resource again (``close()``,
    /// `withHandle`, ``setByteCount(_:)``, ``isClosed``, ``byteCount``):
    /// such a call ends the process with a message that names this rule, in
    /// release builds too (it would otherwise wait for itself for ever).
    ///
    /// - Parameter body: A closure that uses the handle; the handle must not
    ///   escape it.
    /// - Returns: What `body` returns.
    /// - Throws: ``ForeignResourceError/closed`` after close;
    ///   ``ForeignResourceError/inUseAtFork`` in a forked child when another
    ///   thread of the parent held the resource at the fork; what `body`
    ///   throws.
    @inlinable
    public func withHandle<R>(_ body: (Handle) throws -> R) throws -> R {
        let result = try core.withHandle(body)
        withExtendedLifetime(object) {}
        return result
    }

    /// Foreign bytes reported to ``ForeignMemory`` for this resource now.
    ///
    /// 0 when the resource is not accounted, is closed, or was abandoned at a
    /// fork.
    @inlinable
    public var byteCount: Int { core.byteCount }

    /// Changes the foreign bytes reported for the resource.
    ///
    /// For a handle whose memory grows or shrinks (a buffer): the difference
    /// is added to or removed from ``ForeignMemory``. Does nothing for a
    /// resource that is not accounted.
    ///
    /// - Parameter newByteCount: The bytes the handle holds now, 0 or more.
    /// - Throws: ``ForeignResourceError/closed`` after close;
    ///   ``ForeignResourceError/inUseAtFork`` in a forked child when another
    ///   thread of the parent held the resource at the fork;
    ///   ``ForeignMemory/AccountingError`` for a negative count or one that
    ///   would overflow the live counts (nothing changes).
    @inlinable
    public func setByteCount(_ newByteCount: Int) throws {
        try core.setByteCount(newByteCount)
        withExtendedLifetime(object) {}
    }

    /// Closes the handle and gives its bytes back, unless already closed.
    ///
    /// The close function runs on the calling thread, once; the finalizer or
    /// registry entry that would have closed the resource on collection is
    /// removed.
    ///
    /// - Returns: Whether this call closed it (false when it was closed
    ///   before, so a second close is harmless, or when the resource was
    ///   abandoned at a fork).
    @inlinable @discardableResult
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

    /// Whether the handle has been closed (false for one abandoned at a fork).
    @inlinable
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

    /// A sentence that names the error.
    public var description: String {
        switch self {
        case .closed: return "the foreign resource is closed"
        case .inUseAtFork: return "the foreign resource was in use by another thread when the process forked"
        }
    }
}

/// Counters over all foreign resources of the process.
public enum ForeignResources {
    /// A snapshot of the counters, in resources.
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

    /// Process malloc bytes in use: arena bytes in use plus mmapped chunks.
    ///
    /// Take the difference around a call to measure what it allocated; the
    /// figure is process-wide, so other threads' allocations show up in it.
    ///
    /// The corresponding C function is `mallinfo2` (glibc).
    public static var mallocBytesInUse: Int { Int(shim_mallocInUseBytes()) }
}

@usableFromInline
internal enum ForeignResourceCounters {
    @usableFromInline static let opened = Atomic<Int>(0)
    @usableFromInline static let closedExplicitly = Atomic<Int>(0)
    @usableFromInline static let releasedByCollector = Atomic<Int>(0)

    /// Makes the counters with the runtime (see ``Runtime``).
    static func prepare() {
        _ = (opened.load(ordering: .relaxed), closedExplicitly.load(ordering: .relaxed))
        _ = releasedByCollector.load(ordering: .relaxed)
    }
}

/// What a registry entry or a finalizer keeps of a resource: something it
/// can close once the resource's object was found unreachable.
///
/// A class, not a protocol: the vacuum reaches each dead entry's state
/// through the class's method table, with no dynamic cast (a conformance
/// look-up) per entry. `@unchecked Sendable`: it has no state of its own.
@usableFromInline
internal class CollectableResource: @unchecked Sendable {
    @inlinable init() {}

    /// Closes the handle because its object was found unreachable (nothing
    /// if it is closed already).
    @usableFromInline func closeFromCollector() {
        preconditionFailure("CollectableResource.closeFromCollector() is overridden by every resource")
    }

    /// Asks for what ``closeFromCollector()`` reads first to be brought
    /// into the cache; a hint that changes nothing.
    @usableFromInline func prefetchForClose() {}
}

/// The handle, its close function and its accounted bytes, and the lock
/// that serialises every use of the handle.
///
/// The state is the core's own stored properties, guarded by `lock`, and the
/// handle stays stored after close (closed, not destroyed, until the core
/// goes): the vacuum calls ``closeFromCollector()`` through the base class,
/// so unspecialised, and with no value of a type made from `Handle` (an
/// optional, a tuple, a generic state) it needs no type metadata built at
/// run time.
///
/// `@unchecked Sendable`: `closed` and `allocation` change only under
/// `lock`; `handle` and `closeHandle` never change.
@usableFromInline
internal final class ForeignResourceCore<Handle: Sendable>: CollectableResource, @unchecked Sendable {
    @usableFromInline let lock = HandleLock(
        reentryRule: """
            ForeignResource: the resource was used inside its own withHandle body (close(), withHandle, \
            setByteCount, isClosed or byteCount); the body runs under the resource's lock, so the call would wait \
            for itself for ever. Use the resource after withHandle returns.
            """)
    @usableFromInline let handle: Handle
    @usableFromInline let closeHandle: @Sendable (Handle) -> Void
    @usableFromInline var closed = false
    /// What was reported to ForeignMemory; nil when not accounted.
    @usableFromInline var allocation: ForeignMemory.Allocation?

    @inlinable
    init(handle: Handle, close: @escaping @Sendable (Handle) -> Void, allocation: ForeignMemory.Allocation?) {
        self.handle = handle
        self.closeHandle = close
        self.allocation = allocation
    }

    @inlinable
    func withHandle<R>(_ body: (Handle) throws -> R) throws -> R {
        try lock.withLock { () throws -> R in
            guard !closed else { throw ForeignResourceError.closed }
            return try body(handle)
        }
    }

    /// Runs `body` if the handle is still open (and usable in this process:
    /// not abandoned at a fork); returns whether it ran.
    @inlinable
    func withOpenHandle(_ body: (Handle) throws -> Void) rethrows -> Bool {
        try lock.withLockIfUsable { () throws -> Bool in
            guard !closed else { return false }
            try body(handle)
            return true
        } ?? false
    }

    /// Whether the handle is closed (false for one abandoned at a fork).
    @inlinable
    var isClosed: Bool { (try? lock.withLock { closed }) ?? false }

    @inlinable
    var byteCount: Int {
        (try? lock.withLock { closed ? 0 : allocation?.byteCount ?? 0 }) ?? 0
    }

    @inlinable
    func setByteCount(_ newByteCount: Int) throws {
        try lock.withLock { () throws in
            guard !closed else { throw ForeignResourceError.closed }
            guard let allocation else { return }
            guard newByteCount >= 0 else { throw ForeignMemory.AccountingError.negativeCount }
            let difference = newByteCount - allocation.byteCount
            if difference > 0 {
                let added = try ForeignMemory.add(byteCount: difference, objects: 0)
                self.allocation = allocation.adding(added)
            } else if difference < 0 {
                try ForeignMemory.remove(allocation.part(byteCount: -difference))
                self.allocation = allocation.part(byteCount: newByteCount, objects: allocation.objects)
            }
        }
    }

    /// Closes the handle and returns the bytes, once; false if already
    /// closed, or abandoned at a fork (its handle is then left alone).
    @inlinable
    func close() -> Bool {
        var given: ForeignMemory.Allocation? = nil
        let closedHere =
            (try? lock.withLock { () -> Bool in
                if closed { return false }
                closed = true
                given = allocation
                allocation = nil
                return true
            }) ?? false
        guard closedHere else { return false }
        closeHandle(handle)
        if let given {
            do {
                try ForeignMemory.remove(given)
            } catch {
                // Each core adds its bytes once and removes them once.
                assertionFailure("foreign accounting out of balance: \(error)")
            }
        }
        return true
    }

    @inlinable
    override func closeFromCollector() {
        if close() { ForeignResourceCounters.releasedByCollector.add(1, ordering: .relaxed) }
    }

    /// Prefetches the mutex and, when the handle is a class instance, its object.
    @usableFromInline
    override func prefetchForClose() {
        shim_prefetch(lock.mutex)
        if Handle.self is AnyObject.Type && MemoryLayout<Handle>.size == MemoryLayout<UnsafeRawPointer>.size {
            shim_prefetch(unsafeBitCast(handle, to: UnsafeRawPointer.self))
        }
    }
}
