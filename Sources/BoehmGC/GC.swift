/// The Boehm-Demers-Weiser collector, as a Swift namespace.
///
/// The collector starts on first use of any API of this module, on any
/// thread; every thread that calls in is registered with it automatically
/// and unregistered when it exits. To change start-up settings, call
/// ``configure(_:)`` first.
public enum GC {
    /// Starts the collector now (it otherwise starts on first use) and
    /// registers the calling thread.
    public static func initialize() {
        enterCollector()
    }

    /// Whether the collector has started.
    public static var isInitialized: Bool { ConfigurationStore.shared.isSealed }

    /// Runs a full collection now.
    ///
    /// Finalizers and post-GC hooks queued by it run later, on the finalizer
    /// thread or at ``runFinalizers()``, never inside this call.
    ///
    /// The corresponding C function is `GC_gcollect`.
    public static func collect() {
        enterCollector()
        libgc_gcollect()
    }

    /// Runs a partial collection now in generational mode (or a full one
    /// when it is due); a full collection otherwise.
    ///
    /// The corresponding C function is `GC_start_incremental_collection`.
    public static func collectPartially() {
        enterCollector()
        libgc_collectSome()
    }

    /// Runs, on the calling thread, every finalizer (and post-GC hook) that
    /// is ready, and waits for any running on the finalizer thread.
    ///
    /// This is the safe point for tests and for shutdown: after
    /// `GC.collect(); GC.runFinalizers()` every object found unreachable by
    /// that collection has been finalized. Do not call it while holding a lock
    /// that a finalizer may take.
    ///
    /// - Returns: How many finalizers ran in this call.
    ///
    /// The corresponding C function is `GC_invoke_finalizers`.
    @discardableResult
    public static func runFinalizers() -> Int {
        enterCollector()
        return Runtime.shared.finalizers.runReady(onFinalizerThread: false)
    }

    /// Registers the calling thread with the collector now. Threads register
    /// themselves on first use; this is for threads that will hold GC
    /// pointers on their stack before calling any API.
    public static func registerCurrentThread() {
        enterCollector()
    }

    /// Threads registered through this module and not yet exited (a test
    /// hook: the collector's own count is not exposed).
    package static var registeredThreadCount: Int {
        enterCollector()
        return shim_registeredThreadCount()
    }

    /// Unregisters the calling thread now; it registers again on its next
    /// call. A test hook: the thread must hold no GC pointer on its stack.
    package static func unregisterCurrentThread() {
        shim_unregisterCurrentThread()
    }

    /// Collections completed since start, full and partial: the epoch that
    /// post-GC hooks, the foreign-memory accounting and the weak tables
    /// follow (also ``Statistics/collections``).
    public static var collectionCount: UInt64 {
        enterCollector()
        return shim_collectionEpoch()
    }
}
