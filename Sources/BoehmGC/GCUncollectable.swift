/// A block of uncollectable GC memory: scanned for pointers like a root,
/// never collected, freed when this value is consumed or goes away.
///
/// Use it for long-lived tables of GC pointers that Swift code owns: every
/// object whose address is stored in the block stays alive. It is
/// noncopyable, so exactly one owner frees it. Unlike a ``GCRoot``'s cell,
/// the block is GC heap memory and counts against the heap limit.
public struct GCUncollectable: ~Copyable, @unchecked Sendable {
    // Owned exclusively (noncopyable); freed exactly once, in deinit.
    private let base: UnsafeMutableRawPointer

    /// Size in bytes.
    public let byteCount: Int

    /// Allocates a zeroed block.
    ///
    /// - Parameter byteCount: Size in bytes, 0 or more.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` when the heap limit is
    ///   reached or the system refuses memory;
    ///   ``GCError/invalidArgument(_:)`` for a negative size.
    ///
    /// The corresponding C function is `GC_malloc_uncollectable`.
    public init(byteCount: Int) throws(GCError) {
        guard byteCount >= 0 else { throw .invalidArgument("byteCount must not be negative, got \(byteCount)") }
        enterCollector()
        guard
            let base = libgc_mallocUncollectable(byteCount)
                ?? HeapLimit.collectingOnce({ libgc_mallocUncollectable(byteCount) })
        else { throw .outOfMemory(byteCount: byteCount) }
        self.base = base
        self.byteCount = byteCount
    }

    /// Calls `body` with the block's bytes, read-only.
    ///
    /// The block owns the memory; the buffer (``byteCount`` bytes) is valid
    /// until the block is freed. Do not let it escape the call.
    ///
    /// - Parameter body: A closure that reads the bytes.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: byteCount))
    }

    /// Calls `body` with the block's bytes.
    ///
    /// The block owns the memory; the buffer (``byteCount`` bytes) is valid
    /// until the block is freed. Do not let it escape the call.
    ///
    /// - Parameter body: A closure that reads or writes the bytes.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
    }

    /// Frees the block now.
    ///
    /// Objects it referred to are no longer kept alive by it.
    ///
    /// The corresponding C function is `GC_free`.
    public consuming func free() {}

    deinit {
        enterCollector()
        libgc_free(base)
    }
}
