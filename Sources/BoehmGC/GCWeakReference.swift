/// A weak reference to a GC object, cleared by the collector (a libgc
/// disappearing link).
///
/// The link lives in a pointer-free uncollectable cell, so it does not keep
/// its target alive, and it is read under the collector's lock, so a
/// collection cannot free the target between the read and the new root.
///
/// Each reference is one entry in libgc's table of links, which forces a
/// full collection before it grows past 4,096 entries: for many weak
/// references that come and go, use a ``GCWeakTable`` (see
/// <doc:WeakTables>). The link is unregistered when this object is
/// released.
public final class GCWeakReference: @unchecked Sendable {
    /// When the link is cleared.
    public enum Strength: Sendable, Equatable {
        /// Cleared as soon as the target is unreachable, before any finalizer
        /// of the target runs (libgc's disappearing link).
        case short
        /// Cleared only when the target is really reclaimed, after its
        /// finalizer ran and did not resurrect it (libgc's long link).
        case long
    }

    // The cell is allocated in init and freed in deinit; libgc writes it
    // with the world stopped or its lock held, and we read it under that
    // lock, so no Swift-side lock is needed.
    private let cell: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    /// Whether this link is short or long.
    public let strength: Strength

    /// Creates a weak reference to `target`'s object.
    ///
    /// - Parameters:
    ///   - target: The object to refer to; the reference does not keep it
    ///     alive.
    ///   - strength: When the link is cleared (`.short` by default).
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the link cannot be
    ///   recorded.
    ///
    /// The corresponding C functions are `GC_general_register_disappearing_link`
    /// and `GC_register_long_link`.
    public init(_ target: GCRoot, strength: Strength = .short) throws(GCError) {
        enterCollector()
        let size = MemoryLayout<UnsafeMutableRawPointer?>.size
        guard let raw = libgc_mallocAtomicUncollectable(size) else { throw .outOfMemory(byteCount: size) }
        let cell = raw.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: 1)
        let object = target.unsafeAddress
        cell.initialize(to: object)
        let status = libgc_registerLink(cell, to: object, long: strength == .long)
        withExtendedLifetime(target) {}
        guard status == libgc_success else {
            libgc_free(raw)
            throw .outOfMemory(byteCount: size)
        }
        self.cell = cell
        self.strength = strength
    }

    deinit {
        enterCollector()
        libgc_unregisterLink(cell, long: strength == .long)
        libgc_free(cell)
    }

    /// A new root for the target, or nil once the collector cleared the link.
    ///
    /// The corresponding C function is `GC_call_with_alloc_lock` (the read
    /// under the collector's lock).
    public var target: GCRoot? {
        enterCollector()
        guard let object = libgc_readUnderLock(cell) else { return nil }
        return GCRoot(rooting: object)
    }

    /// Whether the collector has cleared the link.
    public var isCleared: Bool {
        enterCollector()
        return libgc_readUnderLock(cell) == nil
    }
}
