import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A mutex held across user code (a ``ForeignResource``'s `withHandle`
/// body, a port's write(2)), so outside the library's gate (see ``Lock``):
/// `fork` does not wait for it.
///
/// In a forked child, a lock that some thread of the parent held, or was
/// waiting for, when the process forked is never released there; taking it
/// would wait for ever. Each lock therefore counts its users, stamped with
/// the fork generation they belong to: a child that finds users of an older
/// generation reports the lock abandoned instead of taking it.
///
/// `@unchecked Sendable`: the value is only reached under the mutex.
internal struct HandleLock<Value>: ~Copyable, @unchecked Sendable {
    private let storage: MutexStorage<Value>
    /// Fork generation (high 32 bits) and threads holding or waiting for
    /// the mutex (low 32 bits).
    private let users: Atomic<UInt64>

    init(_ initialValue: consuming Value) {
        storage = MutexStorage(initialValue)
        users = Atomic(UInt64(shim_forkGeneration()) << 32)
    }

    deinit { storage.destroy() }

    private var mutex: UnsafeMutablePointer<pthread_mutex_t> { storage.mutex }
    private var value: UnsafeMutablePointer<Value> { storage.value }

    /// Runs `body` under the lock.
    ///
    /// - Throws: ``ForeignResourceError/inUseAtFork`` if the lock was
    ///   abandoned at a fork (`body` is not called); what `body` throws.
    func withLock<Result>(_ body: (inout Value) throws -> Result) throws -> Result {
        guard enter() else { throw ForeignResourceError.inUseAtFork }
        pthread_mutex_lock(mutex)
        defer {
            pthread_mutex_unlock(mutex)
            users.subtract(1, ordering: .releasing)
        }
        return try body(&value.pointee)
    }

    /// Runs `body` under the lock; nil, without calling it, if the lock was
    /// abandoned at a fork.
    func withLockIfUsable<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result? {
        guard enter() else { return nil }
        pthread_mutex_lock(mutex)
        defer {
            pthread_mutex_unlock(mutex)
            users.subtract(1, ordering: .releasing)
        }
        return try body(&value.pointee)
    }

    private func enter() -> Bool {
        let generation = UInt64(shim_forkGeneration())
        var word = users.load(ordering: .relaxed)
        while true {
            let desired: UInt64
            if word >> 32 == generation {
                desired = word + 1
            } else if word & 0xFFFF_FFFF == 0 {
                desired = generation << 32 | 1
            } else {
                return false
            }
            let (exchanged, current) = users.compareExchange(
                expected: word, desired: desired, ordering: .acquiring)
            if exchanged { return true }
            word = current
        }
    }
}
