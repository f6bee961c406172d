import CInterop
import Glibc
import TestSupport
import Testing

/// The C API (`bgc.h`) as C code uses it: the checks and shapes are C, in
/// Tests/CInterop, calling the public header only. Each call's checks run in
/// this process; program shapes (threads made in C, C starting the
/// collector first, fork, zlib and GMP with the allocator hooks) run many
/// times in child processes (`c-shapes`, Tests/CShapes).
@Suite struct CInteropTests {
    /// Runs one C check and expects every line of its report to hold.
    func check(_ body: (UnsafeMutablePointer<cinterop_report>) -> Void) {
        let report = UnsafeMutablePointer<cinterop_report>.allocate(capacity: 1)
        defer { report.deallocate() }
        report.initialize(to: cinterop_report())
        body(report)
        let text = String(cString: cinterop_report_text(report))
        print(text, terminator: "")
        #expect(report.pointee.failures == 0, "\(report.pointee.failures) C checks failed:\n\(text)")
    }

    @Test func memory() { check(cinterop_check_memory) }

    /// Reading the collection count (Swift and C) and the foreign
    /// statistics before anything starts the library starts nothing: the
    /// configuration given afterwards still applies.
    @Test func readsBeforeTheStartSealNothing() async throws {
        try await ChildProcess.runRepeatedly("c-shapes", ["reads-first"], runs: 1)
    }

    /// A heap limit is process-wide: these checks run in a child.
    @Test func heapLimit() async throws {
        try await ChildProcess.runRepeatedly("c-shapes", ["heap-limit"], runs: 1)
    }
    @Test func roots() { check(cinterop_check_roots) }
    @Test func weakReferences() { check(cinterop_check_weak_refs) }
    @Test func finalizersAndHooks() { check(cinterop_check_finalizers_and_hooks) }
    @Test func foreignMemory() { check(cinterop_check_foreign_memory) }
    @Test func threads() { check(cinterop_check_threads) }
    @Test func configurationAfterStart() { check(cinterop_check_configuration_after_start) }

    /// 4 C threads build 2,000 lists each while another collects: made
    /// directly (registered by their first call), through
    /// bgc_pthread_create, blocking every signal before they register by
    /// hand, or inside bgc_with_gc, or with the lists held by root ranges
    /// added and removed while collections run; each from the main thread
    /// and from a Dispatch worker (signals inherited blocked). 0 corrupt
    /// lists, 0 crashes, in every run.
    @Test(arguments: ["direct", "wrapper", "blocked", "scoped", "ranges"])
    func listsFromCThreads(how: String) async throws {
        for variant in [[], ["dispatch"]] {
            let outcomes = try await ChildProcess.runRepeatedly(
                "c-shapes", ["lists", how, "4", "2000"] + variant, runs: 4, timeout: .seconds(60))
            let corrupt = outcomes.map { $0.int("corrupt") }
            #expect(corrupt.allSatisfy { $0 == 0 }, "corrupt lists per run: \(corrupt)")
        }
    }

    /// A registered thread that blocks every signal around
    /// bgc_pthread_create (so the new thread starts with them blocked) while
    /// another collects: the call unblocks libgc's two while it waits.
    @Test func threadCreationWithEverySignalBlocked() async throws {
        try await ChildProcess.runRepeatedly("c-shapes", ["blocked-create", "1000"], runs: 2, timeout: .seconds(60))
    }

    /// The control shows the check can fail: gc.h's GC_malloc from threads
    /// libgc does not know corrupts lists or crashes.
    @Test func unregisteredThreadsAreCaught() async throws {
        var caught = 0
        for _ in 0..<3 {
            let outcome = try await ChildProcess.run(
                "c-shapes", ["lists", "unregistered", "4", "2000"], timeout: .seconds(60), quiet: true)
            if !outcome.succeeded { caught += 1 }
        }
        #expect(caught >= 2, "only \(caught) of 3 runs with unregistered threads failed")
    }

    /// C starts the collector first (through bgc_init, or through gc.h
    /// alone), two Swift threads use weak tables and two C threads the C
    /// API, and C forks 200 times: 5 runs each, 0 hangs, every child ends
    /// its work.
    @Test(arguments: ["api", "raw"])
    func cFirstThenFork(first: String) async throws {
        let outcomes = try await ChildProcess.runRepeatedly(
            "c-shapes", ["fork", first, "200"], runs: 5, timeout: .seconds(120))
        let failed = outcomes.map { $0.int("failed") }
        #expect(failed.allSatisfy { $0 == 0 }, "children failed or hung per run: \(failed)")
    }

    /// gc.h starts libgc before the library: the library adopts it (its
    /// configuration still applies, collections are counted, hooks run).
    @Test func libgcStartedByCIsAdopted() async throws {
        try await ChildProcess.runRepeatedly("c-shapes", ["adopt"], runs: 1)
    }

    /// 10,000 deflate streams whose z_stream lives in a GC object, dropped
    /// without deflateEnd (a finalizer ends them), with the counting hooks:
    /// the live foreign bytes stay within a few budgets, and every stream
    /// is ended once found.
    @Test func zlibStreamsDroppedWithCountingHooks() async throws {
        let outcome = try await ChildProcess.run("c-shapes", ["zlib", "10000", "dropped"], timeout: .seconds(120))
        #expect(outcome.succeeded, "\(outcome)")
        // Without the hooks the same program peaks near 600 MB.
        #expect(outcome.int("peak_rss") < 96 << 20, "peak RSS \(outcome.int("peak_rss")) bytes")
    }

    /// GMP through the counting hooks beside a second GMP user whose numbers
    /// live in malloc'd memory: 0 wrong results.
    @Test func gmpCountedBesideAnotherUser() async throws {
        let outcomes = try await ChildProcess.runRepeatedly("c-shapes", ["gmp-counted", "200"], runs: 2)
        #expect(outcomes.allSatisfy { $0.int("wrong") == 0 }, "wrong results: \(outcomes.map { $0.int("wrong") })")
    }

    /// GMP through the collected hooks: numbers on the GC heap stay right
    /// across collections, and the process-wide rule shows: limbs of a
    /// number kept in malloc'd memory are collected under it.
    @Test func gmpCollectedAndItsRule() async throws {
        let outcomes = try await ChildProcess.runRepeatedly("c-shapes", ["gmp-collected", "100"], runs: 2)
        #expect(outcomes.allSatisfy { $0.int("wrong") == 0 })
        let collected = outcomes.map { $0.int("malloc_limbs_collected") }
        #expect(collected.allSatisfy { $0 >= 90 }, "malloc-held limbs collected, of 100: \(collected)")
    }

    /// GMP cannot take NULL back: at the heap limit the collected hook ends
    /// the process with a message that names the rule.
    @Test func gmpOutOfMemoryNamesTheRule() async throws {
        let outcome = try await ChildProcess.run("c-shapes", ["gmp-oom"], timeout: .seconds(60))
        #expect(outcome.signal == SIGABRT, "\(outcome)")
        #expect(outcome.output.contains("GMP, which cannot take NULL back"), "\(outcome)")
    }
}
