/// A block of uncollectable GC memory: scanned for pointers like a root,
/// never collected, freed when this value is consumed or goes away.
///
/// Use it for long-lived tables of GC pointers that Swift code owns. It is
/// noncopyable, so exactly one owner frees it.
public struct GCUncollectable: ~Copyable, @unchecked Sendable {
    // Owned exclusively (noncopyable); freed exactly once, in deinit.
    private let base: UnsafeMutableRawPointer

    /// Size in bytes.
    public let byteCount: Int

    /// Allocates `byteCount` zeroed bytes.
    ///
    /// - Throws: ``GCError/outOfMemory(byteCount:)``,
    ///   ``GCError/invalidArgument(_:)`` for a negative size.
    ///
    /// The corresponding C function is `GC_malloc_uncollectable`.
    public init(byteCount: Int) throws(GCError) {
        guard byteCount >= 0 else { throw .invalidArgument("byteCount must not be negative, got \(byteCount)") }
        enterCollector()
        guard let base = libgc_mallocUncollectable(byteCount) else { throw .outOfMemory(byteCount: byteCount) }
        self.base = base
        self.byteCount = byteCount
    }

    /// Calls `body` with the block's bytes; do not let the buffer escape.
    public func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
    }

    /// Frees the block now.
    ///
    /// The corresponding C function is `GC_free`.
    public consuming func free() {}

    deinit {
        enterCollector()
        libgc_free(base)
    }
}
