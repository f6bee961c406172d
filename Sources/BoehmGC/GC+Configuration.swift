import Synchronization

extension GC {
    /// Settings libgc reads once, when it starts.
    ///
    /// Pass them to ``GC/configure(_:)`` before anything else touches the
    /// collector. Every field left `nil` keeps libgc's default.
    public struct Configuration: Sendable, Equatable {
        /// Bytes to grow the heap to right after initialisation, in
        /// `1...2^47`; nil for libgc's initial size.
        ///
        /// The corresponding C function is `GC_expand_hp`.
        public var initialHeapSize: Int?
        /// libgc's free-space divisor, 1 or more: larger values collect more
        /// often and keep the heap smaller (nil keeps libgc's default, 3).
        ///
        /// libgc collects once about (heap in use) / divisor bytes have been
        /// allocated since the last collection, so garbage that waits for a
        /// collection (dropped ports, and the weak-table entries that stand
        /// for them) takes a share of the heap that falls as the divisor
        /// rises. With a large live heap, 4 can lower the peak more than it
        /// costs in collections: Benchmarks/README.md (the 1 GB soak) has the
        /// figures. The environment variable `GC_FREE_SPACE_DIVISOR` sets the
        /// same before the collector starts, unless this is set.
        ///
        /// The corresponding C function is `GC_set_free_space_divisor`.
        public var freeSpaceDivisor: Int?
        /// The heap limit in bytes, in `65_536...2^47` (libgc cannot start
        /// with less): the heap never grows past
        /// it, and allocations beyond it throw
        /// ``GCError/outOfMemory(byteCount:)``; nil for no limit.
        ///
        /// ``GC/setMaximumHeapSize(_:)`` changes it later.
        ///
        /// The corresponding C function is `GC_set_max_heap_size`.
        public var maximumHeapSize: Int?
        /// The heap limit as a share of the memory limit the process runs
        /// under, in `(0, 1]`; nil for none (the default).
        ///
        /// Like .NET's `GCHeapHardLimitPercent`: when the collector starts,
        /// the heap limit becomes this share of the tightest hard limit on
        /// the path up from the process's own cgroup (cgroup v2
        /// `memory.max`, v1 `memory.limit_in_bytes`), or of the machine's
        /// memory (`MemTotal`) when no group has one; with
        /// ``maximumHeapSize`` also set, the smaller limit wins. The heap
        /// then stops growing before the kernel's OOM killer acts, and an
        /// allocation past it throws ``GCError/outOfMemory(byteCount:)``.
        /// The rest of the limit is for everything else: the runtime,
        /// malloc, thread stacks, the page cache the group is charged for.
        /// ``GC/maximumHeapSize`` gives the limit that resulted. See
        /// <doc:MemoryPressure>.
        ///
        /// The corresponding C function is `GC_set_max_heap_size`.
        public var maximumHeapShare: Double?
        /// Where finalizers and post-GC hooks run.
        ///
        /// See ``GC/FinalizerMode``.
        public var finalizerMode: FinalizerMode
        /// Shared objects the collector does not scan for roots: every
        /// loaded module whose path contains one of these strings.
        ///
        /// Before each collection libgc records the writable data of every
        /// loaded module as roots, then stops the world; a module unloaded
        /// by `dlclose` in between leaves a root range over unmapped memory,
        /// and the collection crashes. glibc's iconv unloads idle converter
        /// modules on its own, from `iconv_close`, so they are left out by
        /// default (`"/gconv/"`: they never hold GC pointers). Add any module
        /// of your own that you unload and that holds no GC pointers; a
        /// module that holds GC pointers must never be unloaded. At most 16
        /// patterns, none empty.
        ///
        /// The corresponding C function is
        /// `GC_register_has_static_roots_callback`.
        public var unscannedModules: [String]
        /// Full collections only (the default), or libgc's generational mode.
        ///
        /// See ``GC/Collections`` and <doc:GenerationalMode>.
        public var collections: Collections

        /// Creates a configuration; every argument left out keeps its
        /// default.
        ///
        /// ``GC/configure(_:)`` checks the values, not this initialiser.
        ///
        /// - Parameters:
        ///   - initialHeapSize: Bytes to grow the heap to at start, in
        ///     `1...2^47` and at most `maximumHeapSize`; nil for libgc's
        ///     initial size.
        ///   - freeSpaceDivisor: libgc's free-space divisor, 1 or more; nil
        ///     for libgc's default (3).
        ///   - maximumHeapSize: The heap limit in bytes, in `65_536...2^47`; nil
        ///     for none.
        ///   - maximumHeapShare: The heap limit as a share, in `(0, 1]`, of
        ///     the process's cgroup memory limit (or the machine's memory);
        ///     nil for none.
        ///   - finalizerMode: Where finalizers and post-GC hooks run.
        ///   - unscannedModules: Substrings of the paths of loaded modules
        ///     the collector does not scan for roots (at most 16, none
        ///     empty).
        ///   - collections: Full collections only, or generational mode.
        public init(
            initialHeapSize: Int? = nil,
            freeSpaceDivisor: Int? = nil,
            maximumHeapSize: Int? = nil,
            maximumHeapShare: Double? = nil,
            finalizerMode: FinalizerMode = .dedicatedThread,
            unscannedModules: [String] = ["/gconv/"],
            collections: Collections = .full
        ) {
            self.initialHeapSize = initialHeapSize
            self.freeSpaceDivisor = freeSpaceDivisor
            self.maximumHeapSize = maximumHeapSize
            self.maximumHeapShare = maximumHeapShare
            self.finalizerMode = finalizerMode
            self.unscannedModules = unscannedModules
            self.collections = collections
        }
    }

    /// How the collector collects: full collections only, or libgc's
    /// generational mode.
    ///
    /// See <doc:GenerationalMode>.
    public enum Collections: Sendable, Equatable {
        /// Every collection marks the whole heap with the world stopped.
        case full
        /// libgc's generational mode: most collections are partial (they
        /// trace only from what changed since the last one, so their pause
        /// follows the young part of the heap), with a full collection after
        /// every `fullEvery` partial ones (`1...10000`; 4 by default: see
        /// <doc:GenerationalMode> for why not libgc's 19).
        ///
        /// What changes with it:
        /// - An object that survived a collection and then became
        ///   unreachable is found only by the next full collection: its
        ///   finalizer, the weak-table entries that hold it weakly and the
        ///   weak references to it wait for that one.
        /// - libgc learns which pages changed by write-protecting the heap
        ///   (this kernel has no soft-dirty bits): a system call that writes
        ///   into a scanned GC object (read(2) into a GC buffer) fails with
        ///   EFAULT. Read into malloc'd or pointer-free memory; the library's
        ///   own I/O (the ports) never reads into the GC heap.
        /// - The foreign-memory trigger and growing weak tables start
        ///   partial collections (``GC/collectPartially()``);
        ///   ``GC/collect()`` still runs a full one.
        /// - Every collection, partial or full, is counted, timed and
        ///   followed by the post-GC hooks, as in full mode.
        ///
        /// The corresponding C function is `GC_enable_incremental` (with
        /// `GC_set_time_limit(GC_TIME_UNLIMITED)`: marking is never spread
        /// over several pauses) and `GC_set_full_freq`.
        case generational(fullEvery: Int = 4)
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
    /// Call before the first use of any other API of this module; the
    /// collector reads the settings when it starts. Calling it again before
    /// then replaces them.
    ///
    /// - Warning: Settings only take effect before initialisation.
    /// - Parameter configuration: The settings.
    /// - Throws: ``GCError/alreadyInitialized`` if the collector has started;
    ///   ``GCError/invalidArgument(_:)`` for a negative or zero size, a heap
    ///   size above 2^47 bytes (the x86-64 user address space), a heap
    ///   limit below 64 KiB (libgc would exit at start), an initial heap
    ///   size above the maximum, a heap share outside `(0, 1]`,
    ///   `fullEvery` outside `1...10000`, more
    ///   than 16 unscanned modules or an empty one. Nothing is changed then.
    ///
    /// The corresponding C functions are `GC_set_free_space_divisor`,
    /// `GC_set_max_heap_size`, `GC_register_has_static_roots_callback` and
    /// `GC_enable_incremental`, called when the collector starts.
    public static func configure(_ configuration: Configuration) throws(GCError) {
        if case .generational(let fullEvery) = configuration.collections, !(1...10_000).contains(fullEvery) {
            throw .invalidArgument("fullEvery must be in 1...10000, got \(fullEvery)")
        }
        if configuration.unscannedModules.count > 16 {
            throw .invalidArgument("at most 16 unscanned modules, got \(configuration.unscannedModules.count)")
        }
        if configuration.unscannedModules.contains(where: \.isEmpty) {
            throw .invalidArgument("an unscanned module pattern must not be empty")
        }
        if let share = configuration.maximumHeapShare, !(share > 0 && share <= 1) {
            throw .invalidArgument("maximumHeapShare must be in (0, 1], got \(share)")
        }
        try GCError.checkPositive([
            "initialHeapSize": configuration.initialHeapSize,
            "freeSpaceDivisor": configuration.freeSpaceDivisor,
            "maximumHeapSize": configuration.maximumHeapSize,
        ])
        for (name, value) in [
            ("initialHeapSize", configuration.initialHeapSize),
            ("maximumHeapSize", configuration.maximumHeapSize),
        ] {
            if let value, value > GC.largestHeapSize {
                throw .invalidArgument("\(name) must be at most 2^47 bytes, got \(value)")
            }
        }
        if let maximum = configuration.maximumHeapSize, maximum < GC.smallestStartingHeapSize {
            throw .invalidArgument(
                "maximumHeapSize must be at least 65,536 bytes (libgc starts with a 64 KiB heap), got \(maximum)")
        }
        if let initial = configuration.initialHeapSize, let maximum = configuration.maximumHeapSize,
            initial > maximum
        {
            throw .invalidArgument("initialHeapSize \(initial) is above maximumHeapSize \(maximum)")
        }
        try Settings.shared.collector.set(configuration)
    }
}

extension GC {
    /// Heap sizes above this (2^47 bytes, the x86-64 user address space)
    /// are refused as out of range.
    internal static let largestHeapSize = 1 << 47

    /// A heap limit below this (64 KiB) stops libgc 8.2.2 at start ("Can't
    /// start up: not enough memory", then exit): its first heap is 16 blocks
    /// of 4 KiB.
    internal static let smallestStartingHeapSize = 1 << 16
}
