import TestSupport
import Testing

/// Program shapes the collector must survive (`gc-shapes`, see
/// Tests/Shapes/main.swift), each run many times in child processes while
/// the rest of the suite loads the machine. A run that crashes, fails a
/// check or hangs counts as a failure; the test prints every outcome seen
/// and the output of the first failure.
@Suite struct CrashShapeTests {
    /// Runs `gc-shapes arguments` `runs` times, two at a time.
    func runShape(_ arguments: [String], runs: Int, timeout: Duration = .seconds(90)) async throws {
        try await ChildProcess.runRepeatedly("gc-shapes", arguments, runs: runs, timeout: timeout)
    }

    /// Top-level await: the main thread ends in dispatch_main(), which
    /// blocks its signals and calls pthread_exit, while two threads allocate.
    @Test func asyncMainProgram() async throws {
        try await runShape(["async-main", "0.3"], runs: 10)
    }

    /// A registered thread exits with every signal blocked while another
    /// allocates: its unregistration must not wait for the allocation lock
    /// of a collection that waits for it (libgc would abort after 15 s of
    /// unanswered suspend signals).
    @Test func threadsExitWithSignalsBlocked() async throws {
        try await runShape(["blocked-exit"], runs: 6)
    }

    @Test func dispatchWorkersTasksAndThreadsComeAndGo() async throws {
        try await runShape(["dispatch"], runs: 4)
    }

    /// iconv_open/iconv_close on two threads (glibc unloads idle gconv
    /// modules) while a third collects: the marker must never scan the data
    /// segment of a module unloaded since the collection began (gconv
    /// modules are not roots).
    @Test func iconvModulesUnloadDuringCollections() async throws {
        try await runShape(["iconv"], runs: 6)
    }

    /// 2 x 40 children forked while two threads finalize, write ports, use
    /// weak tables and collect; each child allocates, collects, runs
    /// finalizers (at the safe point and on a new finalizer thread), uses a
    /// table and a port. Every child must live to its end.
    @Test func forkedChildrenUseTheCollector() async throws {
        try await runShape(["fork", "40"], runs: 2)
    }
}
