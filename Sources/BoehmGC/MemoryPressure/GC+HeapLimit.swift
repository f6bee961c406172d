import Synchronization

extension GC {
    /// The GC heap limit in bytes now, or nil when the heap may grow without bound.
    ///
    /// It starts as ``Configuration/maximumHeapSize`` and changes with
    /// ``setMaximumHeapSize(_:)``. Reading it starts the collector. libgc has
    /// a setter but no getter, so this is the value last set.
    public static var maximumHeapSize: Int? {
        enterCollector()
        return HeapLimit.current
    }

    /// Changes the GC heap limit while the program runs.
    ///
    /// The heap stops growing past `bytes`; an allocation that does not fit
    /// after a collection throws ``GCError/outOfMemory(byteCount:)``. A limit
    /// below the current heap size does not shrink the heap: it only stops
    /// further growth. Pass nil to remove the limit.
    ///
    /// - Parameter bytes: The new limit in bytes, in `1...2^47`, or nil for
    ///   none.
    /// - Throws: ``GCError/invalidArgument(_:)`` for zero, a negative size
    ///   or one above 2^47 bytes (the x86-64 user address space).
    ///
    /// The corresponding C function is `GC_set_max_heap_size`.
    public static func setMaximumHeapSize(_ bytes: Int?) throws(GCError) {
        if let bytes, bytes <= 0 || bytes > GC.largestHeapSize {
            throw .invalidArgument("maximumHeapSize must be in 1...2^47, got \(bytes)")
        }
        enterCollector()
        HeapLimit.set(bytes)
    }
}

/// The heap limit as last set.
///
/// libgc has a setter but no getter for it.
internal enum HeapLimit {
    /// 0 means no limit, as in libgc.
    private static let stored = Atomic<Int>(0)

    /// The limit the collector started with (with the runtime, see
    /// ``Runtime``).
    static func prepare(_ configured: Int?) {
        stored.store(configured ?? 0, ordering: .releasing)
    }

    static var current: Int? {
        Runtime.start()
        let value = stored.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    static func set(_ bytes: Int?) {
        let value = bytes ?? 0
        libgc_setMaxHeapSizeUnderLock(value)
        stored.store(value, ordering: .releasing)
    }
}
