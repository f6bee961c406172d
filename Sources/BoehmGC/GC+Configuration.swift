import Synchronization

extension GC {
    /// Settings libgc reads once, when it starts.
    ///
    /// Pass them to ``GC/configure(_:)`` before anything else touches the
    /// collector. Every field left `nil` keeps libgc's default.
    public struct Configuration: Sendable, Equatable {
        /// Bytes to grow the heap to right after initialisation.
        public var initialHeapSize: Int?
        /// libgc's free-space divisor: larger values collect more often and
        /// keep the heap smaller (default 3).
        ///
        /// The corresponding C function is `GC_set_free_space_divisor`.
        public var freeSpaceDivisor: Int?
        /// The heap never grows past this many bytes; allocations beyond it
        /// throw ``GCError/outOfMemory(byteCount:)``.
        ///
        /// The corresponding C function is `GC_set_max_heap_size`.
        public var maximumHeapSize: Int?
        /// Where finalizers run. See ``GC/FinalizerMode``.
        public var finalizerMode: FinalizerMode

        public init(
            initialHeapSize: Int? = nil,
            freeSpaceDivisor: Int? = nil,
            maximumHeapSize: Int? = nil,
            finalizerMode: FinalizerMode = .dedicatedThread
        ) {
            self.initialHeapSize = initialHeapSize
            self.freeSpaceDivisor = freeSpaceDivisor
            self.maximumHeapSize = maximumHeapSize
            self.finalizerMode = finalizerMode
        }
    }

    /// Where finalizers (and post-GC hooks) run.
    ///
    /// libgc always runs in finalize-on-demand mode here, so a finalizer
    /// never runs inside an unrelated allocation while its caller holds its
    /// own locks.
    public enum FinalizerMode: Sendable, Equatable {
        /// A dedicated thread, woken by libgc's finalizer notifier after each
        /// collection that found finalizable objects (the default).
        case dedicatedThread
        /// Only at explicit safe points: ``GC/runFinalizers()``.
        case explicitOnly
    }

    /// Sets the collector's start-up settings.
    ///
    /// Call before the first use of any other API of this module.
    ///
    /// - Warning: Settings only take effect before initialisation.
    /// - Throws: ``GCError/alreadyInitialized`` if the collector has started;
    ///   ``GCError/invalidArgument(_:)`` for a negative or zero size.
    public static func configure(_ configuration: Configuration) throws(GCError) {
        for (name, value) in [
            ("initialHeapSize", configuration.initialHeapSize),
            ("freeSpaceDivisor", configuration.freeSpaceDivisor),
            ("maximumHeapSize", configuration.maximumHeapSize),
        ] {
            if let value, value <= 0 {
                throw .invalidArgument("\(name) must be positive, got \(value)")
            }
        }
        try ConfigurationStore.shared.set(configuration)
    }
}

/// The configuration until initialisation seals it.
internal enum ConfigurationStore {
    static let shared = SealedSetting(GC.Configuration())
}
