import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs ready finalizers and post-GC hooks.
///
/// They run on a dedicated thread, woken by libgc's finalizer notifier and at
/// the end of every collection, and at GC.runFinalizers(). One batch of
/// finalizers and hooks runs at a time (the C shim's batch lock), so
/// GC.runFinalizers() returns only once no finalizer or hook is still running
/// on the dedicated thread.
internal final class FinalizerRunner: Sendable {
    let finalizersRun = Atomic<Int>(0)
    private let mode: GC.FinalizerMode

    init(mode: GC.FinalizerMode, threads: BackgroundThreads) {
        self.mode = mode
        guard mode == .dedicatedThread else { return }
        shim_finalizerThreadPrepare()
        threads.start(name: "finalizer") {
            enterCollector()
            let runner = Runtime.shared.finalizers
            while true {
                shim_finalizerThreadWait()
                _ = runner.runReady(onFinalizerThread: true)
            }
        }
    }

    /// Runs every ready finalizer, then every post-GC hook that has
    /// collections to catch up on; returns how many finalizers ran.
    func runReady(onFinalizerThread: Bool) -> Int {
        let count =
            onFinalizerThread
            ? shim_runFinalizers { PostGCHook.runAll(onFinalizerThread: true) }
            : shim_runFinalizers { PostGCHook.runAll(onFinalizerThread: false) }
        finalizersRun.add(count, ordering: .relaxed)
        return count
    }
}
