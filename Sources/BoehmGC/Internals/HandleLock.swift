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
/// Not generic: the state it guards lives in its owner's stored properties,
/// so a generic owner's code (``ForeignResource``'s core, which the vacuum
/// runs unspecialised) needs no type metadata made at run time to lock.
///
/// `@unchecked Sendable`: the mutex lives in an allocation of its own, made
/// in init and freed in deinit; the users word is atomic.
@usableFromInline
internal struct HandleLock: ~Copyable, @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Fork generation (high 32 bits) and threads holding or waiting for
    /// the mutex (low 32 bits).
    @usableFromInline let users: Atomic<UInt64>

    /// What a thread that takes the lock again while holding it is told
    /// (the lock checks its owner, so that ends the process with this
    /// message, in release builds too, instead of a wait for ever).
    @usableFromInline let reentryRule: StaticString

    @inlinable
    init(reentryRule: StaticString) {
        mutex = .allocate(capacity: 1)
        initializeMutex(mutex, checkingOwner: true)
        users = Atomic(UInt64(shim_forkGeneration()) << 32)
        self.reentryRule = reentryRule
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` under the lock.
    ///
    /// - Throws: ``ForeignResourceError/inUseAtFork`` if the lock was
    ///   abandoned at a fork (`body` is not called); what `body` throws.
    @inlinable
    func withLock<Result>(_ body: () throws -> Result) throws -> Result {
        // An optional Result comes back doubly wrapped: nil only when the
        // lock was abandoned.
        guard let result = try withLockIfUsable(body) else { throw ForeignResourceError.inUseAtFork }
        return result
    }

    /// Runs `body` under the lock; nil, without calling it, if the lock was
    /// abandoned at a fork.
    @inlinable
    func withLockIfUsable<Result>(_ body: () throws -> Result) rethrows -> Result? {
        guard enter() else { return nil }
        let status = pthread_mutex_lock(mutex)
        if status != 0 {
            users.subtract(1, ordering: .releasing)
            lockRefused(status, reentryRule)
        }
        defer {
            pthread_mutex_unlock(mutex)
            users.subtract(1, ordering: .releasing)
        }
        return try body()
    }

    @inlinable
    func enter() -> Bool {
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
