import BoehmGC
import CTestSupport
import Synchronization

/// Collects and drains finalizers `rounds` times: after it, every object
/// unreachable before the call has been finalized and every hook caught up.
package func collectAndDrain(rounds: Int = 3) {
    for _ in 0..<rounds {
        GC.collect()
        GC.runFinalizers()
    }
}

/// Allocates `count` objects, each with a short weak reference and no root,
/// in a frame of its own so no address lingers in the caller's frame.
@inline(never)
package func makeUnrootedObjects(_ count: Int, byteCount: Int = 32) throws -> [GCWeakReference] {
    var links: [GCWeakReference] = []
    links.reserveCapacity(count)
    for _ in 0..<count {
        let root = try GCRoot(byteCount: byteCount)
        links.append(try GCWeakReference(root))
    }
    return links
}

/// Zeroes 64 KiB of the stack below the caller, so stale copies of
/// addresses left there by returned calls do not keep objects alive.
///
/// In C (`ctest_scrub_stack`): a Swift buffer above 1 KiB
/// (`withUnsafeTemporaryAllocation`) is allocated on the heap, so a Swift
/// scrub cleared nothing (`StackScrubTests`).
@inline(never)
package func scrubStack() {
    ctest_scrub_stack()
}

/// A counter shared with finalizers, hooks and helper threads.
package final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    package init() {}

    package func increment() { value.add(1, ordering: .relaxed) }

    package var count: Int { value.load(ordering: .relaxed) }
}

/// A value shared with finalizers, hooks and helper threads, under a lock.
package final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    package init(_ value: Value) { mutex = Mutex(value) }

    package func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }

    package var value: Value { mutex.withLock { $0 } }
}
