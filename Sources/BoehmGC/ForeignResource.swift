import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

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
/// Swift value is alive (it roots the object), or while a reachable GC
/// object refers to ``object``. The Swift wrapper itself is the only way to
/// the handle. The handle, its lock and its account live in one GC object,
/// the resource's record, which ``object`` refers to: a resource allocates
/// no malloc memory of its own (the ``ForeignResource`` wrapper aside,
/// which goes with its last reference).
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

    private let reference: ForeignResourceReference

    /// The GC object that stands for the resource: a new root to it at each
    /// read.
    ///
    /// Store it in other GC objects to keep the resource open while they are
    /// reachable. Its first word refers to the resource's record (which the
    /// collector keeps alive through it); do not change that word.
    public var object: GCRoot { reference.object }

    /// Opens a resource.
    ///
    /// - Parameters:
    ///   - byteCount: Foreign bytes the handle holds, 0 or more. When nil, they
    ///     are measured around `open`: the calling thread's net allocation
    ///     under jemalloc, the process's malloc bytes in use under glibc's
    ///     malloc (`mallinfo2`; allocation by other threads at the same time
    ///     skews it); see ``ForeignResources/mallocMeasurement`` for an
    ///     allocator the library cannot read. Measure once per kind of
    ///     handle and pass the figure when opening many.
    ///   - accounted: Whether to report `byteCount` to ``ForeignMemory``.
    ///   - release: How the resource is released when dropped unclosed.
    ///   - objectByteCount: Size of ``object`` in bytes: a scanned GC object
    ///     of at least 8 bytes (8 by default), whose first word is the
    ///     resource's.
    ///   - open: Creates the handle. If it throws, nothing is registered.
    ///   - close: Closes the handle; called exactly once, on the thread that
    ///     calls ``close()``, or on the finalizer thread, or where the
    ///     registry vacuums. It must not throw or use this resource.
    /// - Throws: What `open` throws; ``GCError/outOfMemory(byteCount:)`` if
    ///   the resource's GC objects or the registry entry cannot be
    ///   allocated; ``ForeignMemory/AccountingError`` if the bytes cannot be
    ///   recorded (a negative `byteCount`, or live counts that would pass
    ///   `Int.max`). In every case but the first the handle is closed again
    ///   and nothing stays recorded.
    ///
    /// The corresponding C function is `mallinfo2` (glibc), or jemalloc's
    /// `mallctl`, when `byteCount` is nil.
    public init(
        byteCount: Int? = nil,
        accounted: Bool = true,
        release: Release,
        objectByteCount: Int = 8,
        open: () throws -> Handle,
        close: @escaping @Sendable (Handle) -> Void
    ) throws {
        let registry: ForeignResourceRegistry?
        switch release {
        case .finalizer: registry = nil
        case .registry(let chosen): registry = chosen
        }
        // The kind holds `close`: one per resource, retained by its record.
        let kind = ForeignResourceKind(handleType: Handle.self) { handle in
            close(handle.assumingMemoryBound(to: Handle.self).move())
        }
        if let byteCount, byteCount < 0 { throw ForeignMemory.AccountingError.negativeCount }
        reference = try ForeignResourceReference(
            handleSize: MemoryLayout<Handle>.stride, handleAlignment: MemoryLayout<Handle>.alignment,
            accounted: accounted, measuresByteCount: byteCount == nil, registry: registry, kind: kind,
            ownsKind: true, keyByteCount: objectByteCount
        ) { handle, _ in
            handle.assumingMemoryBound(to: Handle.self).initialize(to: try open())
            return (byteCount ?? 0, needsRelease: true)
        }
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
    public func withHandle<R>(_ body: (Handle) throws -> R) throws -> R {
        let handle = reference.record.handle.assumingMemoryBound(to: Handle.self)
        return try reference.withLock { try body(handle.pointee) }
    }

    /// Foreign bytes reported to ``ForeignMemory`` for this resource now.
    ///
    /// 0 when the resource is not accounted, is closed, or was abandoned at a
    /// fork.
    public var byteCount: Int { reference.byteCount }

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
    public func setByteCount(_ newByteCount: Int) throws {
        let record = reference.record
        try reference.withLock { try record.setByteCountUnderLock(newByteCount) }
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
    @discardableResult
    public func close() -> Bool { reference.close() }

    /// Whether the handle has been closed (false for one abandoned at a fork).
    public var isClosed: Bool { reference.isClosed }
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
        // Before the collector starts, no resource was opened (reading
        // starts nothing).
        guard let counters = Runtime.existing?.foreignResources else {
            return Statistics(opened: 0, closedExplicitly: 0, releasedByCollector: 0)
        }
        return Statistics(
            opened: counters.opened.load(ordering: .relaxed),
            closedExplicitly: counters.closedExplicitly.load(ordering: .relaxed),
            releasedByCollector: counters.releasedByCollector.load(ordering: .relaxed))
    }

    /// Process malloc bytes in use, as the process's malloc counts them.
    ///
    /// Under glibc's malloc, arena bytes in use plus mmapped chunks
    /// (`mallinfo2`); under jemalloc, `stats.allocated`; 0 when the malloc
    /// cannot be read (``mallocMeasurement`` is
    /// ``MallocMeasurement/unavailable``). Take the difference around a call
    /// to measure what it allocated; the figure is process-wide, so other
    /// threads' allocations show up in it.
    ///
    /// The corresponding C functions are `mallinfo2` (glibc) and `mallctl`
    /// (jemalloc).
    public static var mallocBytesInUse: Int { shim_mallocInUseBytes() }

    /// How the library reads the process's malloc, to measure foreign sizes
    /// (``ForeignResource`` opened with `byteCount: nil`, the ports'
    /// converters).
    public enum MallocMeasurement: Sendable, Equatable {
        /// glibc's own malloc: the process's bytes in use before and after
        /// (`mallinfo2`), so allocation by other threads meanwhile skews a
        /// measure.
        case glibc
        /// jemalloc, preloaded or linked: the calling thread's own counters
        /// (`thread.allocated`, `thread.deallocated`), exact.
        case jemalloc
        /// A malloc the library cannot read (neither glibc's nor jemalloc):
        /// every measured size is ``unmeasuredByteCount``, and a line on
        /// standard error says so, once.
        case unavailable
    }

    /// How the process's malloc is read; found once, when the collector
    /// starts.
    ///
    /// The corresponding C functions are `dlsym` (jemalloc's `mallctl`, and
    /// whether `malloc` is glibc's own).
    public static var mallocMeasurement: MallocMeasurement {
        switch shim_mallocKind() {
        case 1: return .glibc
        case 2: return .jemalloc
        default: return .unavailable
        }
    }

    /// The figure a measured size falls back to when the malloc cannot be
    /// read: 32 KiB.
    ///
    /// About what glibc's iconv takes for one converter (33,040 bytes for
    /// ISO-8859-15 with glibc 2.36), the foreign handle the accounting was
    /// made for. Too large for a small handle, so collections come sooner
    /// than needed rather than later.
    public static let unmeasuredByteCount = 32 << 10

    /// Test hook: takes the process's malloc to be one the library cannot
    /// read, from now on (``MallocMeasurement/unavailable``).
    package static func treatMallocAsUnreadable() {
        enterCollector()
        shim_mallocTreatAsUnreadable()
    }

    /// Measures what `body` allocates and does not free, in bytes of malloc
    /// (see ``mallocMeasurement``): ``unmeasuredByteCount`` when the malloc
    /// cannot be read.
    package static func measureAllocation<E: Error>(_ body: () throws(E) -> Void) throws(E) -> Int {
        let before = measurementCounter()
        try body()
        return measuredBytes(since: before)
    }

    /// A reading to measure an allocation from (see ``measuredBytes(since:)``).
    static func measurementCounter() -> UInt64 { shim_mallocMeasureCounter() }

    /// Bytes allocated since `before` was read, 0 or more;
    /// ``unmeasuredByteCount`` when the malloc cannot be read.
    static func measuredBytes(since before: UInt64) -> Int {
        guard mallocMeasurement != .unavailable else {
            warnOnceUnmeasurable()
            return unmeasuredByteCount
        }
        let after = shim_mallocMeasureCounter()
        return after > before ? Int(after - before) : 0
    }

    private static func warnOnceUnmeasurable() {
        guard !ForeignResourceCounters.shared.warnedUnmeasurable.exchange(true, ordering: .relaxed) else { return }
        let message =
            "BoehmGC: this process's malloc is neither glibc's nor jemalloc, so foreign sizes cannot be measured; "
            + "each measured size is taken as \(unmeasuredByteCount) bytes (ForeignResources.mallocMeasurement)\n"
        var text = message
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}

/// The counters of every foreign resource, held by ``Runtime``.
internal final class ForeignResourceCounters: Sendable {
    let opened = Atomic<Int>(0)
    let closedExplicitly = Atomic<Int>(0)
    let releasedByCollector = Atomic<Int>(0)
    let warnedUnmeasurable = Atomic<Bool>(false)

    /// Made with the runtime, which finds the process's malloc there too
    /// (dlopen and dlsym, whose loader lock must not be held at a fork).
    init() {
        _ = shim_mallocKind()
    }

    /// The runtime's.
    static var shared: ForeignResourceCounters { Runtime.shared.foreignResources }
}
