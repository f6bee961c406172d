#if canImport(Glibc)
    import Glibc
#endif

/// Wakes the memory-pressure monitors' threads when libgc grows its heap:
/// a GC program's memory grows with its heap, so a monitor samples then, not
/// only every sampling interval (a server allocating 500 MiB/s fills 50 MiB
/// between two samples 100 ms apart).
///
/// libgc calls its heap-resize callback with the allocation lock held; the
/// callback writes to each monitor's wakeup eventfd (a system call: no
/// allocation, no lock).
internal enum HeapGrowth {
    /// The running monitors' wakeup eventfds.
    ///
    /// `nonisolated(unsafe)`: read and written only with libgc's allocation
    /// lock held (the callback runs under it; ``add(_:)`` and
    /// ``remove(_:)`` take it through `GC_call_with_alloc_lock`). That also
    /// makes a removed descriptor safe to close: no callback still uses it.
    nonisolated(unsafe) private static var descriptors: [Int32] = []

    /// Installs the callback (with the runtime, after GC_INIT).
    static func prepare() {
        libgc_withAllocationLock { descriptors.reserveCapacity(4) }
        libgc_setOnHeapResize { _ in HeapGrowth.notify() }
    }

    static func add(_ descriptor: Int32) {
        Runtime.start()
        libgc_withAllocationLock { descriptors.append(descriptor) }
    }

    /// After it returns, no callback writes to `descriptor`.
    static func remove(_ descriptor: Int32) {
        libgc_withAllocationLock { descriptors.removeAll { $0 == descriptor } }
    }

    private static func notify() {
        for descriptor in descriptors {
            var one: UInt64 = 1
            _ = write(descriptor, &one, 8)
        }
    }
}
