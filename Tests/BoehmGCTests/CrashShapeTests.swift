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

    /// A program that traps with the library's threads running (the
    /// finalizer thread, the weak sweep's helpers, libgc's parallel
    /// markers) gets the Swift runtime's backtrace, and the crash handler
    /// suspends every thread of ours: it sends each thread SIGUSR1, SIGUSR2
    /// or SIGPROF, the first that thread leaves unblocked, and prints
    /// "failed to suspend thread N" for a thread that blocks all three.
    /// libgc's markers block them (libgc sets their mask itself), so with
    /// its default markers only they may be named; with `GC_MARKERS=1`
    /// (no marker threads) no thread may. The shape traps once no thread is
    /// left in libgc's suspend handler after its collection (which blocks
    /// all three, whoever the thread).
    @Test(arguments: [false, true]) func trapPrintsABacktraceOfEveryThreadOfOurs(singleMarker: Bool) async throws {
        var environment = ["SWIFT_BACKTRACE": "enable=yes,interactive=no,color=no,output-to=stderr"]
        if singleMarker { environment["GC_MARKERS"] = "1" }
        for run in 1...3 {
            let outcome = try await ChildProcess.run(
                "gc-shapes", ["trap-backtrace"], quiet: true, environment: environment)
            let lines = outcome.output.split(separator: "\n").map(String.init)
            var names: [String: String] = [:]
            for line in lines where line.hasPrefix("thread ") {
                let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
                if fields.count == 3 { names[fields[1]] = fields[2] }
            }
            let unsuspended = lines.filter { $0.contains("failed to suspend thread") }.map { line in
                let id = line.split(separator: " ").first { $0.allSatisfy(\.isNumber) }.map(String.init) ?? "?"
                return (id: id, name: names[id] ?? "unknown")
            }
            let ours = unsuspended.filter { singleMarker || !$0.name.hasPrefix("GC-marker") }
            let seen =
                "run \(run) of 3: \(outcome.summary); threads \(names); not suspended \(unsuspended); output:\n"
                + outcome.output.prefix(4_000)
            #expect(outcome.signal != nil, "the child must die of its trap: \(seen)")
            #expect(
                outcome.output.contains("Program crashed") && outcome.output.contains(" crashed:"),
                "no backtrace: \(seen)")
            #expect(
                ["gc-finalizer", "gc-hooks"].allSatisfy(names.values.contains),
                "the library's threads did not run under their names: \(seen)")
            #expect(ours.isEmpty, "threads the crash handler could not suspend: \(ours); \(seen)")
        }
    }

    /// 2 x 40 children forked while two threads finalize, write ports, use
    /// weak tables and collect; each child allocates, collects, runs
    /// finalizers (at the safe point and on a new finalizer thread), uses a
    /// table and a port. Every child must live to its end.
    @Test func forkedChildrenUseTheCollector() async throws {
        try await runShape(["fork", "40"], runs: 2)
    }
}
