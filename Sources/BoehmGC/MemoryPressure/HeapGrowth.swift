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
/// Held by ``Runtime``.
internal final class HeapGrowth: @unchecked Sendable {
    /// The running monitors' wakeup eventfds.
    ///
    /// `@unchecked Sendable`: read and written only with libgc's allocation
    /// lock held (the callback runs under it; ``add(_:)`` and
    /// ``remove(_:)`` take it through `GC_call_with_alloc_lock`), or before
    /// the runtime that holds this object is published. That also makes a
    /// removed descriptor safe to close: no callback still uses it.
    private var descriptors: [Int32] = []

    init() {
        descriptors.reserveCapacity(4)
    }

    /// Installs the callback (with the runtime, after GC_INIT).
    ///
    /// The callback does nothing until the runtime is published (a heap
    /// grown while it starts has no monitor to wake).
    static func installCallback() {
        libgc_setOnHeapResize { _ in Runtime.existing?.heapGrowth.notify() }
    }

    static func add(_ descriptor: Int32) {
        let growth = Runtime.shared.heapGrowth
        libgc_withAllocationLock { growth.descriptors.append(descriptor) }
    }

    /// After it returns, no callback writes to `descriptor`.
    static func remove(_ descriptor: Int32) {
        let growth = Runtime.shared.heapGrowth
        libgc_withAllocationLock { growth.descriptors.removeAll { $0 == descriptor } }
    }

    private func notify() {
        for descriptor in descriptors {
            var one: UInt64 = 1
            _ = write(descriptor, &one, 8)
        }
    }
}
