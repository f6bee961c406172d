import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs ready finalizers, and post-GC hooks, each on a dedicated thread of
/// its own, and both at GC.runFinalizers().
///
/// The finalizer thread is woken by libgc's finalizer notifier and at the
/// end of every collection; the hook thread at the end of every collection.
/// One batch of finalizers runs at a time (the C shim's batch lock), and one
/// pass of hooks (its pass lock); a pass never waits for a batch, so hooks
/// and weak-table vacuums do not wait behind finalizers.
/// GC.runFinalizers() runs a batch, then a pass, so it returns only once no
/// finalizer or hook is still running on either thread.
internal final class FinalizerRunner: Sendable {
    let finalizersRun = Atomic<Int>(0)
    private let mode: GC.FinalizerMode

    init(mode: GC.FinalizerMode, threads: BackgroundThreads) {
        self.mode = mode
        guard mode == .dedicatedThread else { return }
        shim_finalizerThreadPrepare()
        shim_hookThreadPrepare()
        threads.start(name: "gc-finalizer") {
            enterCollector()
            let runner = Runtime.shared.finalizers
            while true {
                shim_finalizerThreadWait()
                _ = runner.runFinalizers()
            }
        }
        threads.start(name: "gc-hooks") {
            enterCollector()
            while true {
                shim_hookThreadWait()
                FinalizerRunner.runHooks(onHookThread: true)
            }
        }
    }

    /// Runs every ready finalizer; returns how many ran.
    private func runFinalizers() -> Int {
        let count = shim_runFinalizers()
        finalizersRun.add(count, ordering: .relaxed)
        return count
    }

    /// Runs every ready finalizer, then every post-GC hook that has
    /// collections to catch up on (GC.runFinalizers()); returns how many
    /// finalizers ran.
    ///
    /// A weak table still busy after the pass's retries is vacuumed here,
    /// waiting for its lock, but after the pass: the hook thread's next pass
    /// does not wait for it.
    ///
    /// From a finalizer it runs the finalizers only (the hooks' pass may be
    /// waiting for this very batch); from a post-GC hook it traps with
    /// ``hookRule`` (the finalizers' batch may be waiting for this very
    /// pass: each would wait for the other for ever).
    func runReady() -> Int {
        if shim_inHookPass() { fatalError("\(Self.hookRule)") }
        let count = runFinalizers()
        if shim_inFinalizer() { return count }
        let busy = FinalizerRunner.runHooks(onHookThread: false)
        PostGCHook.finish(busy)
        return count
    }

    /// The rule a post-GC hook breaks when it runs the finalizers.
    static var hookRule: StaticString {
        """
        GC.runFinalizers() (bgc_run_finalizers) was called from a post-GC hook: a hook must not run or wait \
        for finalizers or other hooks (a finalizer's batch may be waiting for this hook's pass). Call it \
        outside the hook, or let the finalizer thread run them.
        """
    }

    /// One pass of the post-GC hooks, under the pass lock; returns the runs
    /// still busy after its retries.
    @discardableResult
    private static func runHooks(onHookThread: Bool) -> [PostGCHook.BusyRun] {
        final class Pass {
            let onHookThread: Bool
            var busy: [PostGCHook.BusyRun] = []
            init(onHookThread: Bool) { self.onHookThread = onHookThread }
        }
        let pass = Pass(onHookThread: onHookThread)
        withExtendedLifetime(pass) {
            shim_runHooks(
                { context in
                    let pass = Unmanaged<Pass>.fromOpaque(context!).takeUnretainedValue()
                    pass.busy = PostGCHook.runAll(onHookThread: pass.onHookThread)
                }, Unmanaged.passUnretained(pass).toOpaque())
        }
        return pass.busy
    }
}
