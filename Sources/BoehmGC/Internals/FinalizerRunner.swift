internal import CGCSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs ready finalizers: on a dedicated thread woken by libgc's finalizer
/// notifier, and at GC.runFinalizers().
///
/// `runLock` is held while finalizers run, so that GC.runFinalizers()
/// returns only once no finalizer is still running on the dedicated thread.
internal final class FinalizerRunner: Sendable {
    private let runLock = Mutex(())
    let finalizersRun = Atomic<Int>(0)

    init(mode: GC.FinalizerMode) {
        guard mode == .dedicatedThread else { return }
        let wakeup = finalizerWakeup  // initialised before libgc can call the notifier
        libgc_setFinalizerNotifier {
            // Called by libgc outside its lock, once per collection that
            // queued finalizers.
            finalizerWakeup.signal()
        }
        startDetachedThread("finalizer") {
            enterCollector()
            let runner = Runtime.shared.finalizers
            while true {
                wakeup.wait()
                _ = runner.runReady()
            }
        }
    }

    /// Runs every ready finalizer; returns how many ran.
    func runReady() -> Int {
        // A finalizer that calls GC.runFinalizers() already holds the lock.
        if cgc_in_finalizer() != 0 { return invokeAll() }
        return runLock.withLock { _ in invokeAll() }
    }

    private func invokeAll() -> Int {
        var total = 0
        while true {
            let count = Int(cgc_invoke_finalizers())
            if count == 0 { break }
            total += count
        }
        finalizersRun.add(total, ordering: .relaxed)
        return total
    }
}

/// Wakes the finalizer thread. A global: libgc's notifier is a C function
/// without context.
private let finalizerWakeup = Semaphore()
