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
    let wakeups = Atomic<Int>(0)

    init(mode: GC.FinalizerMode) {
        guard mode == .dedicatedThread else { return }
        // The semaphore is process-lifetime memory, never freed.
        sem_init(finalizerSemaphore, 0, 0)
        libgc_setFinalizerNotifier {
            // Called by libgc outside its lock, once per collection that
            // queued finalizers. sem_post is async-signal-safe and never
            // allocates.
            sem_post(finalizerSemaphore)
        }
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { _ in
                finalizerThreadMain()
                return nil
            }, nil)
        precondition(status == 0, "cannot start the finalizer thread: error \(status)")
        pthread_detach(thread)
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

// Written once (sem_init, before the thread starts) and then used only
// through sem_post and sem_wait, which synchronise themselves.
nonisolated(unsafe) private let finalizerSemaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

private func finalizerThreadMain() {
    enterCollector()
    let runner = Runtime.shared.finalizers
    while true {
        while sem_wait(finalizerSemaphore) != 0 {}
        runner.wakeups.add(1, ordering: .relaxed)
        _ = runner.runReady()
    }
}
