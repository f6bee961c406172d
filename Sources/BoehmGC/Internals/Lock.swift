#if canImport(Glibc)
    import Glibc
#endif

/// A mutex inside the library's gate: every lock of the library is one of
/// these, but the finalizer batch lock in the C shim and ``ResourceLock``,
/// which are held across user code.
///
/// `fork` closes the gate and waits until no thread is inside any section,
/// so no lock of the library is held when the process is copied, and the
/// child finds every one of them free. A section must therefore end without
/// waiting for anything a forking thread might hold: no I/O that can block
/// for ever, no user code that may wait on other threads.
///
/// A pthread mutex, not Synchronization's `Mutex`: that one caches each
/// thread's kernel id, so in a forked child the forking thread locks with
/// its parent's id, and the first thread of the child to contend for the
/// same lock traps ("Unknown error occurred while attempting to acquire a
/// Mutex": the kernel's priority-inheritance futex finds no such owner).
///
/// `@unchecked Sendable`: the value is only reached under the mutex.
package struct Lock<Value>: ~Copyable, @unchecked Sendable {
    private let storage: MutexStorage<Value>
    /// What a thread that takes the lock again while it holds it is told.
    private let reentryRule: StaticString

    /// A lock that nobody takes while holding it.
    package init(_ initialValue: consuming Value) {
        storage = MutexStorage(initialValue)
        reentryRule = "a lock of BoehmGC was taken again by the thread that holds it"
    }

    /// A lock held across user code that must not use the lock's owner (a
    /// weak table's hash and equality closures).
    ///
    /// The mutex checks its owner (`PTHREAD_MUTEX_ERRORCHECK`), so a thread
    /// that takes it again while holding it traps with `reentryRule`, in
    /// release builds too, where it would otherwise wait for itself for
    /// ever.
    package init(_ initialValue: consuming Value, reentryRule: StaticString) {
        storage = MutexStorage(initialValue, checkingOwner: true)
        self.reentryRule = reentryRule
    }

    deinit { storage.destroy() }

    private var mutex: UnsafeMutablePointer<pthread_mutex_t> { storage.mutex }
    private var value: UnsafeMutablePointer<Value> { storage.value }

    @inline(__always)
    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        shim_gateEnter()
        let status = pthread_mutex_lock(mutex)
        if status != 0 { lockRefused(status, reentryRule) }
        defer {
            pthread_mutex_unlock(mutex)
            shim_gateExit()
        }
        return try body(&value.pointee)
    }

    @inline(__always)
    package func withLockIfAvailable<Result, E: Error>(
        _ body: (inout Value) throws(E) -> Result
    ) throws(E) -> Result? {
        shim_gateEnter()
        defer { shim_gateExit() }
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}

/// A pthread mutex and the value it guards, in one allocation (their
/// addresses never move): the storage of ``Lock``.
@usableFromInline
internal struct MutexStorage<Value> {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let value: UnsafeMutablePointer<Value>

    /// Where the value starts: after the mutex, at the value's alignment.
    @inlinable static var valueOffset: Int {
        let alignment = MemoryLayout<Value>.alignment
        return (MemoryLayout<pthread_mutex_t>.size + alignment - 1) / alignment * alignment
    }

    /// - Parameters:
    ///   - initialValue: The value the mutex guards.
    ///   - checkingOwner: Whether the mutex reports a lock by its owner
    ///     (`PTHREAD_MUTEX_ERRORCHECK`) rather than waiting for ever.
    @inlinable
    init(_ initialValue: consuming Value, checkingOwner: Bool = false) {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: Self.valueOffset + MemoryLayout<Value>.size,
            alignment: max(MemoryLayout<pthread_mutex_t>.alignment, MemoryLayout<Value>.alignment))
        mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        initializeMutex(mutex, checkingOwner: checkingOwner)
        value = (raw + Self.valueOffset).bindMemory(to: Value.self, capacity: 1)
        value.initialize(to: initialValue)
    }

    /// Ends the value and the mutex and frees the block; once.
    @inlinable
    func destroy() {
        value.deinitialize(count: 1)
        pthread_mutex_destroy(mutex)
        UnsafeMutableRawPointer(mutex).deallocate()
    }
}

/// Initialises a pthread mutex, owner-checking
/// (`PTHREAD_MUTEX_ERRORCHECK`: a lock by its owner returns `EDEADLK`) or
/// plain.
@inlinable
internal func initializeMutex(_ mutex: UnsafeMutablePointer<pthread_mutex_t>, checkingOwner: Bool) {
    guard checkingOwner else {
        pthread_mutex_init(mutex, nil)
        return
    }
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
    pthread_mutex_init(mutex, &attributes)
    pthread_mutexattr_destroy(&attributes)
}

/// Ends the process because `pthread_mutex_lock` refused: `EDEADLK` (the
/// thread holds the lock already) with the rule the caller broke, in
/// release builds too; any other status is a bug.
@usableFromInline @inline(never)
internal func lockRefused(_ status: Int32, _ reentryRule: StaticString) -> Never {
    if status == EDEADLK { fatalError("\(reentryRule)") }
    fatalError("pthread_mutex_lock failed: \(status)")
}

/// Runs `body` inside the library's gate without a lock of its own.
///
/// `fork` waits until it has finished. For calls into C libraries that take
/// process-wide locks of their own that are not fork-safe (glibc's
/// `iconv_open` and `iconv_close` take `__gconv_lock`, which a child would
/// find held for ever if another thread was inside them at the fork).
@inline(__always)
package func withinLibraryGate<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    shim_gateEnter()
    defer { shim_gateExit() }
    return try body()
}
