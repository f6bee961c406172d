/// What the library does in a forked child once the C shim has reset its
/// own state: start again the threads of the library that did not survive
/// the fork (the finalizer thread, the accounting's collector thread, the
/// sampling threads of memory-pressure monitors).
///
/// The actions run inside `fork()`, in the child, on its only thread; every
/// lock of the library is free there (see ``Lock``).
internal enum AfterFork {
    private static let actions = Lock<[Int: @Sendable () -> Void]>([:])
    private static let nextToken = Lock(0)

    /// Adds an action; the token removes it.
    @discardableResult
    static func add(_ action: @escaping @Sendable () -> Void) -> Int {
        let token = nextToken.withLock { next in
            next += 1
            return next
        }
        actions.withLock { $0[token] = action }
        return token
    }

    static func remove(_ token: Int) {
        actions.withLock { _ = $0.removeValue(forKey: token) }
    }

    /// Makes, in the parent, everything the child will use: the globals
    /// (no swift_once still running in another thread at a fork) and the
    /// generic type metadata of `snapshot()` (the Swift runtime instantiates
    /// metadata under a lock of its own, which a fork can copy held: a child
    /// that needed new metadata then waited for ever).
    static func prepare() {
        _ = nextToken.withLock { $0 }
        _ = snapshot()
    }

    private static func snapshot() -> [@Sendable () -> Void] {
        actions.withLock { Array($0.values) }
    }

    /// Called by the C shim in the child.
    static func runInChild() {
        for action in snapshot() { action() }
    }
}
