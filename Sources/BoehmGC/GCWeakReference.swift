internal import CBoehmGC
internal import CGCSupport

/// A weak reference to a GC object, cleared by the collector (a libgc
/// disappearing link).
///
/// The link lives in a pointer-free uncollectable cell, so it does not keep
/// its target alive, and it is read under the collector's lock, so a
/// collection cannot free the target between the read and the new root.
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
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the link cannot be
    ///   recorded.
    ///
    /// The corresponding C functions are `GC_general_register_disappearing_link`
    /// and `GC_register_long_link`.
    public init(_ target: GCRoot, strength: Strength = .short) throws(GCError) {
        enterCollector()
        let size = MemoryLayout<UnsafeMutableRawPointer?>.size
        guard let raw = GC_malloc_atomic_uncollectable(size) else { throw .outOfMemory(byteCount: size) }
        let cell = raw.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: 1)
        let object = target.unsafeAddress
        cell.initialize(to: object)
        let link = UnsafeMutableRawPointer(cell).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        let status: Int32 =
            switch strength {
            case .short: GC_general_register_disappearing_link(link, object)
            case .long: GC_register_long_link(link, object)
            }
        withExtendedLifetime(target) {}
        guard status == GC_SUCCESS else {
            GC_free(raw)
            throw .outOfMemory(byteCount: size)
        }
        self.cell = cell
        self.strength = strength
    }

    deinit {
        enterCollector()
        let link = UnsafeMutableRawPointer(cell).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        switch strength {
        case .short: _ = GC_unregister_disappearing_link(link)
        case .long: _ = GC_unregister_long_link(link)
        }
        GC_free(cell)
    }

    /// A new root for the target, or nil once the collector cleared the link.
    public var target: GCRoot? {
        enterCollector()
        guard let object = GC_call_with_alloc_lock({ readLinkCell($0) }, cell) else { return nil }
        return GCRoot(rooting: object, byteCount: Int(GC_size(object)))
    }

    /// Whether the collector has cleared the link.
    public var isCleared: Bool {
        enterCollector()
        return GC_call_with_alloc_lock({ readLinkCell($0) }, cell) == nil
    }
}

/// Reads the word a link cell holds; runs under the allocation lock.
private func readLinkCell(_ cell: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    cell?.load(as: UnsafeMutableRawPointer?.self)
}
