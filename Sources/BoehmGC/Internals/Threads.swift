#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX semaphore at an address that never moves, as a `sem_t` requires.
///
/// The background threads of this module (foreign-memory collections,
/// pressure sampling) sleep on one.
internal final class Semaphore: @unchecked Sendable {
    // Allocated and initialised in init, destroyed in deinit; in between used
    // only through sem_post and sem_*wait, which synchronise themselves.
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() {
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Wakes one waiter.
    ///
    /// Async-signal-safe and never allocates, so it may be called from
    /// inside a collection.
    func signal() {
        sem_post(semaphore)
    }

    /// Waits for a signal.
    ///
    /// libgc's stop-the-world signals interrupt the wait (EINTR); it simply
    /// waits again.
    func wait() {
        while sem_wait(semaphore) != 0 {}
    }

    /// Waits for a signal or until `nanoseconds` have passed, whichever comes
    /// first; an interrupted wait resumes with the same deadline.
    func wait(nanoseconds: Int) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let total = Int(deadline.tv_nsec) + nanoseconds
        deadline.tv_sec += total / 1_000_000_000
        deadline.tv_nsec = total % 1_000_000_000
        while sem_timedwait(semaphore, &deadline) != 0 && errno == EINTR {}
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (vacuum and sweep times, the
/// accounting's interval trigger).
@inline(__always)
internal func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
