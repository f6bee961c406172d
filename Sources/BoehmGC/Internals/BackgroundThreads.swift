#if canImport(Glibc)
    import Glibc
#endif

/// The library's background threads: the only place the Swift layer creates
/// a thread, and where a forked child starts them again.
///
/// Each thread is recorded with its body when it starts (the finalizer
/// thread, the accounting's collector thread, each running memory-pressure
/// monitor's sampling thread). A forked child has only the thread that
/// forked; the C shim's fork-child handler calls ``Runtime`` there, which
/// starts every recorded thread again. A thread that stops for good is
/// removed with its token, so no child restarts it.
///
/// The C shim creates threads of its own, which this registry does not see:
/// the weak-region sweep helpers (`CSupport/weak.c`, one per fork
/// generation, started again on demand in a child). Its own fork handlers
/// (`CSupport/threads.c`) reset what they need. Both start their threads
/// through `cgc_start_thread` (`cgc_threads.h`), which names each thread and
/// makes it visible to a crash's backtrace before it returns.
///
/// Held by ``Runtime``; a new background thread is started here and in no
/// other place (the house-rules test checks Sources/ for that).
internal final class BackgroundThreads: Sendable {
    private struct Entry: Sendable {
        let token: Int
        let name: String
        /// Runs in a forked child before the thread starts again; false
        /// skips the restart (the thread's owner stopped meanwhile).
        let prepareInChild: @Sendable () -> Bool
        let body: @Sendable () -> Void
    }

    private struct Recorded {
        var lastToken = 0
        var entries: [Entry] = []
    }

    private let recorded = Lock(Recorded())

    init() {
        // Makes, in the parent, the generic metadata the child's restart
        // uses (the Swift runtime instantiates metadata under a lock of its
        // own, which a fork can copy held: a child that needed new metadata
        // then waited for ever).
        _ = snapshot()
    }

    /// Starts a detached thread running `body`, and records it so that a
    /// forked child starts it again.
    ///
    /// The thread registers itself with the collector on its first call
    /// into this module, like any other.
    ///
    /// - Parameters:
    ///   - name: The thread's name, in /proc, debuggers and a crash's
    ///     backtrace, and in the trap message if the system cannot create
    ///     it: `gc-` and what the thread is for, 15 bytes at most (Linux's
    ///     limit).
    ///   - prepareInChild: Runs in a forked child, on its only thread,
    ///     before the restart; false skips it.
    ///   - body: What the thread runs, in the parent and in each child.
    /// - Returns: A token that ``remove(_:)`` takes (never 0).
    /// - Precondition: the system can create the thread.
    @discardableResult
    func start(
        name: String, prepareInChild: @escaping @Sendable () -> Bool = { true },
        _ body: @escaping @Sendable () -> Void
    ) -> Int {
        let token = recorded.withLock { recorded in
            recorded.lastToken += 1
            recorded.entries.append(
                Entry(token: recorded.lastToken, name: name, prepareInChild: prepareInChild, body: body))
            return recorded.lastToken
        }
        Self.startDetachedThread(name, body)
        return token
    }

    /// Forgets a thread that stopped for good.
    ///
    /// A forked child does not start it again. The thread itself ends by
    /// its owner's means.
    func remove(_ token: Int) {
        recorded.withLock { $0.entries.removeAll { $0.token == token } }
    }

    /// Called through ``Runtime`` in a forked child, on its only thread
    /// (every lock of the library is free there: see ``Lock``).
    func restartInChild() {
        for entry in snapshot() where entry.prepareInChild() {
            Self.startDetachedThread(entry.name, entry.body)
        }
    }

    private func snapshot() -> [Entry] {
        recorded.withLock { $0.entries }
    }

    /// Starts a detached pthread running `body`, named `name`, through the
    /// C shim's `cgc_start_thread` (which returns once the thread runs, its
    /// crash-handler signal unblocked: see `cgc_threads.h`).
    private static func startDetachedThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        final class Start {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let start = Unmanaged.passRetained(Start(body))
        let status = shim_startThread(name, start.toOpaque()) { raw in
            Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
        }
        guard status == 0 else {
            start.release()
            preconditionFailure("cannot start the \(name) thread: error \(status)")
        }
    }
}
