internal import CGCSupport
import Synchronization

/// A mutex inside the library's gate: every lock of the library is one of
/// these (but the finalizer batch lock in the C shim and the per-resource
/// lock of ``ForeignResource``, which are held across user code).
///
/// `fork` closes the gate and waits until no thread is inside any section,
/// so no lock of the library is held when the process is copied, and the
/// child finds every one of them free. A section must therefore end without
/// waiting for anything a forking thread might hold: no I/O that can block
/// for ever, no user code that may wait on other threads.
package struct Lock<Value: ~Copyable>: ~Copyable, Sendable {
    private let mutex: Mutex<Value>

    package init(_ initialValue: consuming sending Value) {
        mutex = Mutex(initialValue)
    }

    @inline(__always)
    package borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        cgc_gate_enter()
        defer { cgc_gate_exit() }
        return try mutex.withLock(body)
    }

    @inline(__always)
    package borrowing func withLockIfAvailable<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result? {
        cgc_gate_enter()
        defer { cgc_gate_exit() }
        return try mutex.withLockIfAvailable(body)
    }
}

/// Runs `body` inside the library's gate without a lock of its own: `fork`
/// waits until it has finished. For calls into C libraries that take
/// process-wide locks of their own that are not fork-safe (glibc's
/// `iconv_open` and `iconv_close` take `__gconv_lock`, which a child would
/// find held for ever if another thread was inside them at the fork).
@inline(__always)
package func withinLibraryGate<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    cgc_gate_enter()
    defer { cgc_gate_exit() }
    return try body()
}
