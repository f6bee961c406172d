import Synchronization

/// The lock of a foreign resource's record: one word inside the record (a GC
/// object), so a resource needs no allocation of its own for it.
///
/// Held across user code (a `withHandle` body, a port's write(2)), so
/// outside the library's gate (see ``Lock``): `fork` does not wait for it.
/// In a forked child, a lock that a thread of the parent held when the
/// process forked is never released there, and taking it would wait for
/// ever; the word therefore carries the fork generation of the thread that
/// last took it, and a child that finds the lock held by an older
/// generation reports it abandoned instead of taking it.
///
/// The word: bits 0-31 are the state (0 free, 1 held, 2 held with threads
/// perhaps waiting), the futex word (little-endian, so at the word's own
/// address); bits 32-63 the fork generation of the last holder. A blocked
/// thread waits in the kernel (futex), as a pthread mutex does: the mutex
/// of Drepper's "Futexes Are Tricky" (its third), with the generation
/// changed in the same compare-and-swap as the state.
///
/// A thread that takes a lock it already holds (a resource used inside its
/// own `withHandle` body) would wait for itself for ever: each thread notes
/// the locks it holds (the C shim's thread-local list), and such a second
/// lock ends the process with a message that names the rule, in release
/// builds too.
internal enum ResourceLock {
    typealias Word = Atomic<UInt64>

    private static var stateMask: UInt64 { 0xFFFF_FFFF }
    private static var held: UInt64 { 1 }
    private static var contended: UInt64 { 2 }

    /// A free lock's word, made in the current fork generation.
    static func initialize(_ word: UnsafeMutablePointer<Word>) {
        word.initialize(to: Word(UInt64(shim_forkGeneration()) << 32))
    }

    /// Takes the lock, waiting for it if another thread holds it.
    ///
    /// - Returns: false, without taking it, when it was abandoned at a fork
    ///   (held by a thread of the parent when the process forked).
    @inline(__always)
    static func lock(_ word: UnsafeMutablePointer<Word>) -> Bool {
        let generation = UInt64(shim_forkGeneration()) << 32
        // The uncontended case: free and of this generation.
        if word.pointee.compareExchange(
            expected: generation, desired: generation | held, ordering: .acquiring
        ).exchanged {
            shim_recordLockHeld(UnsafeMutableRawPointer(word))
            return true
        }
        guard lockSlow(word, generation: generation) else { return false }
        shim_recordLockHeld(UnsafeMutableRawPointer(word))
        return true
    }

    /// What a thread that takes a lock it holds is told.
    private static var reentryRule: StaticString {
        """
        ForeignResource: the resource was used inside its own withHandle body (close(), withHandle, \
        setByteCount, isClosed or byteCount); the body runs under the resource's lock, so the call would wait \
        for itself for ever. Use the resource after withHandle returns.
        """
    }

    @inline(never)
    private static func lockSlow(_ word: UnsafeMutablePointer<Word>, generation: UInt64) -> Bool {
        if shim_recordLockIsHeld(UnsafeMutableRawPointer(word)) { fatalError("\(reentryRule)") }
        // Once this thread has waited, it takes the lock as contended: other
        // threads may still be waiting, and the unlock must wake one.
        var taking = held
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let state = current & stateMask
            if current & ~stateMask != generation {
                // Last taken in an older generation: free means usable here
                // (it was free when the process forked); held means held by
                // a thread that does not exist in this process.
                guard state == 0 else { return false }
            }
            if state == 0 {
                let (exchanged, now) = word.pointee.compareExchange(
                    expected: current, desired: generation | taking, ordering: .acquiring)
                if exchanged { return true }
                current = now
                continue
            }
            if state == held {
                let (exchanged, now) = word.pointee.compareExchange(
                    expected: current, desired: current & ~stateMask | contended, ordering: .relaxed)
                if !exchanged {
                    current = now
                    continue
                }
            }
            shim_futexWait(UnsafeMutableRawPointer(word), UInt32(contended))
            taking = contended
            current = word.pointee.load(ordering: .relaxed)
        }
    }

    /// Releases the lock, waking a waiting thread if there may be one.
    @inline(__always)
    static func unlock(_ word: UnsafeMutablePointer<Word>) {
        shim_recordLockReleased(UnsafeMutableRawPointer(word))
        let (before, _) = word.pointee.bitwiseAnd(~stateMask, ordering: .releasing)
        if before & stateMask == contended { shim_futexWakeOne(UnsafeMutableRawPointer(word)) }
    }
}
