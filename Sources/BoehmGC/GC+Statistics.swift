extension GC {
    /// A snapshot of the collector's counters.
    ///
    /// Byte figures are in bytes; times are wall-clock durations measured on
    /// the monotonic clock.
    public struct Statistics: Sendable, Equatable {
        /// Collections completed, full and partial (``GC/collectionCount``).
        public var collections: Int
        /// Of those, full collections (all of them unless the collector
        /// runs in generational mode).
        public var fullCollections: Int
        /// Bytes of heap the collector has mapped, unmapped pages excluded.
        public var heapSize: Int
        /// Bytes of that heap that are free.
        public var freeBytes: Int
        /// Bytes of heap returned to the operating system (unmapped) but
        /// still reserved.
        public var unmappedBytes: Int
        /// Bytes allocated since the last collection.
        public var bytesSinceCollection: Int
        /// Bytes allocated since start.
        public var totalBytesAllocated: Int
        /// The time the world stood still in the last collection (from
        /// stopping the world to starting it again, summed over the stops of
        /// that collection).
        public var lastPause: Duration
        /// Sum of those pauses over all collections.
        public var totalPause: Duration
        /// The longest pause.
        public var maxPause: Duration
        /// Wall time of the last collection's sweep of every weak table.
        ///
        /// The sweep runs just after the world restarts, still inside the
        /// collection (the collector's lock held), so it is not part of
        /// ``lastPause``; it is shared between threads when the tables are
        /// large. See <doc:WeakTables>.
        public var lastWeakSweep: Duration
        /// Of ``lastPause``, the time the weak-table sweep took with the
        /// world stopped (listing its jobs at mark end).
        public var lastWeakSweepStopped: Duration
        /// libgc finalizers run so far: those of ``GCRoot/setFinalizer(_:)``
        /// and of ``ForeignResource/Release/finalizer`` (post-GC hook runs are
        /// not counted; see ``PostGCHook/runCount``).
        public var finalizersRun: Int
    }

    /// The collector's counters now.
    ///
    /// The heap figures are read together under the collector's lock; the
    /// counts and pauses come from the collection-event callback.
    ///
    /// The corresponding C function is `GC_get_heap_usage_safe`.
    public static var statistics: Statistics {
        enterCollector()
        let usage = libgc_heapUsage()
        return Statistics(
            collections: Int(shim_collectionEpoch()),
            fullCollections: Int(shim_fullCollections()),
            heapSize: usage.heap,
            freeBytes: usage.free,
            unmappedBytes: usage.unmapped,
            bytesSinceCollection: usage.sinceGC,
            totalBytesAllocated: usage.total,
            lastPause: .nanoseconds(Int64(shim_lastPauseNanoseconds())),
            totalPause: .nanoseconds(Int64(shim_totalPauseNanoseconds())),
            maxPause: .nanoseconds(Int64(shim_maxPauseNanoseconds())),
            lastWeakSweep: .nanoseconds(Int64(shim_lastWeakSweepNanoseconds())),
            lastWeakSweepStopped: .nanoseconds(Int64(shim_lastWeakSweepStoppedNanoseconds())),
            finalizersRun: Runtime.shared.finalizers.finalizersRun.load(ordering: .relaxed)
        )
    }
}
