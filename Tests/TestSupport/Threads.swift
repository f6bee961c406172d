#if canImport(Glibc)
    import Glibc
#endif

/// The start of a thread made by ``onThreads(_:_:)``.
private final class ThreadStart {
    let body: @Sendable (Int) -> Void
    let index: Int
    init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { (self.body, self.index) = (body, index) }
}

/// Runs `body(i)` for each i in 0..<count, each on a pthread of its own
/// started now, and waits for all of them.
///
/// For tests whose threads must run at the same time: tasks share a pool of
/// one thread per core, and a task that never awaits keeps its thread, so two
/// such tasks can starve a third. The library registers each thread with the
/// collector on its first call.
package func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    for index in 0..<count {
        let context = Unmanaged.passRetained(ThreadStart(body, index)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { context in
                let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
                start.body(start.index)
                return nil
            }, context)
        precondition(status == 0, "pthread_create: \(status)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}
