internal import CGCSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs ready finalizers: on a dedicated thread woken by libgc's finalizer
/// notifier, and at GC.runFinalizers(). One batch runs at a time (the C
/// shim's batch lock), so GC.runFinalizers() returns only once no finalizer
/// is still running on the dedicated thread.
internal final class FinalizerRunner: Sendable {
    let finalizersRun = Atomic<Int>(0)
    private let mode: GC.FinalizerMode

    init(mode: GC.FinalizerMode) {
        self.mode = mode
        guard mode == .dedicatedThread else { return }
        _ = finalizerWakeup  // initialised before libgc can call the notifier
        libgc_setFinalizerNotifier {
            // Called by libgc outside its lock, once per collection that
            // queued finalizers.
            finalizerWakeup.signal()
        }
        FinalizerRunner.startThread()
        AfterFork.add { FinalizerRunner.startThread() }
    }

    private static func startThread() {
        startDetachedThread("finalizer") {
            enterCollector()
            let runner = Runtime.shared.finalizers
            while true {
                finalizerWakeup.wait()
                _ = runner.runReady()
            }
        }
    }

    /// Runs every ready finalizer; returns how many ran.
    func runReady() -> Int {
        let count = Int(cgc_run_finalizers())
        finalizersRun.add(count, ordering: .relaxed)
        return count
    }
}

/// Wakes the finalizer thread. A global: libgc's notifier is a C function
/// without context.
private let finalizerWakeup = Semaphore()
