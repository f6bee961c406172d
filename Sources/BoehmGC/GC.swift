/// The Boehm-Demers-Weiser collector, as a Swift namespace.
///
/// The collector starts on first use of any API of this module, on whatever
/// thread gets there first; every thread that calls in is registered with it
/// on its first call and unregistered when it exits. To change start-up
/// settings, call ``configure(_:)`` before anything else.
///
/// The collector scans its own heap, static data and the stacks of
/// registered threads, never memory that Swift allocates: hold GC objects
/// from Swift through ``GCRoot``, ``GCHandle`` or ``GCBox`` (see
/// <doc:RootsAndHandles>).
public enum GC {
    /// Starts the collector now (it otherwise starts on first use) and
    /// registers the calling thread.
    ///
    /// Calling it again does nothing. After it, ``configure(_:)`` throws
    /// ``GCError/alreadyInitialized``. It does what
    /// ``registerCurrentThread()`` does; each name says why a program calls
    /// it (the start, a thread), as the C API's `bgc_init` and
    /// `bgc_register_thread` do.
    ///
    /// The corresponding C function is `GC_INIT`.
    public static func initialize() {
        enterCollector()
    }

    /// Whether the collector has started.
    public static var isInitialized: Bool { Settings.shared.collector.isSealed }

    /// Runs a full collection now, on the calling thread.
    ///
    /// Finalizers and post-GC hooks queued by it run later, on the finalizer
    /// thread or at ``runFinalizers()``, never inside this call. In
    /// generational mode it is a full collection too.
    ///
    /// The corresponding C function is `GC_gcollect`.
    public static func collect() {
        enterCollector()
        libgc_gcollect()
    }

    /// Runs a partial collection now in generational mode (or a full one
    /// when it is due); a full collection otherwise.
    ///
    /// This is the collection the foreign-memory trigger and growing weak
    /// tables start (see ``Collections/generational(fullEvery:)``).
    ///
    /// The corresponding C function is `GC_start_incremental_collection`.
    public static func collectPartially() {
        enterCollector()
        libgc_collectSome()
    }

    /// Runs, on the calling thread, every finalizer and post-GC hook that is
    /// ready, and waits for a batch of finalizers running on the finalizer
    /// thread and a pass of hooks running on the hook thread.
    ///
    /// This is the safe point for tests and for shutdown: after
    /// `GC.collect(); GC.runFinalizers()` every object found unreachable by
    /// that collection has been finalized, and every live ``PostGCHook`` has
    /// run for every collection so far (eager weak tables have vacuumed).
    /// With ``FinalizerMode/explicitOnly`` it is the only place finalizers
    /// and hooks run. Do not call it while holding a lock that a finalizer or
    /// hook may take. From a finalizer it runs the ready finalizers only (not
    /// the hooks, whose pass may be waiting for that finalizer's batch); from
    /// a post-GC hook it ends the process with a message that names the rule
    /// (the batch it would wait for may be waiting for the hook's pass).
    ///
    /// - Returns: How many finalizers ran in this call (hook runs are not
    ///   counted).
    ///
    /// The corresponding C function is `GC_invoke_finalizers`.
    @discardableResult
    public static func runFinalizers() -> Int {
        enterCollector()
        return Runtime.shared.finalizers.runReady()
    }

    /// Registers the calling thread with the collector now.
    ///
    /// Threads register themselves on their first call into this module;
    /// this is for a thread that will hold GC pointers on its stack before it
    /// calls anything else. Registration unblocks libgc's suspend and restart
    /// signals on the thread, and the thread is unregistered when it exits
    /// (see <doc:ThreadsAndFork>). Registering a registered thread does
    /// nothing.
    ///
    /// The corresponding C function is `GC_register_my_thread`.
    public static func registerCurrentThread() {
        enterCollector()
    }

    /// Threads registered with the collector through this library (Swift
    /// or the C API) and not yet exited or unregistered.
    ///
    /// Each costs the collector a stack to scan and a thread to stop at
    /// every collection: a server can watch it for threads that leak. Threads
    /// that C code registered through `gc.h` alone are not counted.
    public static var registeredThreadCount: Int {
        enterCollector()
        return shim_registeredThreadCount()
    }

    /// Unregisters the calling thread now; it registers again on its next call.
    ///
    /// A test hook: the thread must hold no GC pointer on its stack.
    package static func unregisterCurrentThread() {
        shim_unregisterCurrentThread()
    }

    /// Collections completed since start, full and partial.
    ///
    /// This is the epoch that post-GC hooks, the foreign-memory accounting
    /// and the weak tables follow (also ``Statistics/collections``): the
    /// collection-event callback counts it when a collection ends
    /// (`GC_EVENT_RECLAIM_END`), so it equals libgc's `GC_get_gc_no()`.
    ///
    /// Reading it never starts the collector, so ``configure(_:)`` still
    /// applies afterwards: before the library starts it is libgc's own
    /// count, 0 unless C code started libgc itself.
    ///
    /// The corresponding C function is `bgc_collection_count`.
    public static var collectionCount: UInt64 {
        shim_collectionsCompleted()
    }
}
