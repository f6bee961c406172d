// c-shapes: program shapes of C code that uses the library through its C
// API (Tests/CInterop, bgc.h only), each a child process the tests run many
// times (CInteropTests). Swift here only chooses the shape, starts Dispatch
// workers and Swift threads where a shape wants them, and prints the result.
// A shape exits 0 when every check held, 1 otherwise; a crash is a signal.
//
//   c-shapes lists HOW [THREADS] [LISTS] [dispatch]
//       C threads made HOW (direct, wrapper, blocked, scoped; unregistered,
//       the control, uses gc.h from threads libgc does not know) build lists of
//       cons cells while another collects; `dispatch` makes them from a
//       Dispatch worker, so they inherit its blocked signals
//   c-shapes reads-first
//       GC.collectionCount, then bgc_collection_count and the foreign
//       statistics, before anything starts the library: none starts it, and
//       the configuration given afterwards applies
//   c-shapes heap-limit
//       the C API at a heap limit (process-wide, so in a process of its own)
//   c-shapes blocked-create [ROUNDS]
//       a registered thread blocks every signal around bgc_pthread_create
//       while another collects
//   c-shapes fork FIRST [CHILDREN]
//       FIRST (api: bgc_init; raw: gc.h's GC_INIT and GC_MALLOC) starts the
//       collector before any Swift code; then two Swift threads use a weak
//       table, two C threads keep the C API busy, and C forks CHILDREN times
//   c-shapes adopt
//       gc.h starts libgc; then the library's configuration, start and
//       counts, as Swift sees them
//   c-shapes zlib STREAMS ended|dropped [hooks|none]
//   c-shapes gmp-counted ROUNDS | gmp-collected ROUNDS | gmp-oom
import BoehmGC
import CInterop
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

func finish(_ report: inout cinterop_report, _ result: [String: Int] = [:]) -> Never {
    let text = String(cString: cinterop_report_text(&report))
    print(text, terminator: "")
    let fields = result.merging(["failures": Int(report.failures)]) { a, _ in a }
        .sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
    print("result {\(fields.joined(separator: ", "))}")
    exit(report.failures == 0 ? 0 : 1)
}

func fail(_ message: String) -> Never {
    print("FAILED: \(message)")
    exit(1)
}

/// Uses a weak table for ever (the issue's busy threads were Swift ones).
func startWeakTableThread() {
    let thread = Thread {
        let table = try! GCWeakTable(weakness: .keys)
        while true {
            for _ in 0..<100 {
                let key = try! GCRoot(byteCount: 32)
                try! table.setValue(key, forKey: key)
            }
            GC.collect()
        }
    }
    thread.start()
}

/// A detached pthread running `body`; C made nothing of it yet.
final class Thread: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        guard
            pthread_create(
                &thread, nil,
                { raw in
                    Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue().body()
                    return nil
                }, context) == 0
        else { fail("pthread_create") }
        pthread_detach(thread)
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
var report = cinterop_report()

switch arguments.first {
case "lists":
    let kinds = [
        "direct": CINTEROP_THREADS_DIRECT, "wrapper": CINTEROP_THREADS_WRAPPER,
        "blocked": CINTEROP_THREADS_BLOCKED, "scoped": CINTEROP_THREADS_SCOPED,
        "unregistered": CINTEROP_THREADS_UNREGISTERED, "ranges": CINTEROP_THREADS_RANGES,
    ]
    guard arguments.count > 1, let how = kinds[arguments[1]] else { fail("lists HOW: \(kinds.keys.sorted())") }
    let threads = arguments.count > 2 ? Int32(arguments[2]) ?? 4 : 4
    let lists = arguments.count > 3 ? Int32(arguments[3]) ?? 2_000 : 2_000
    var corrupt: Int32 = 0
    if arguments.contains("dispatch") {
        // A Dispatch worker blocks libgc's signals; threads it makes inherit
        // the mask.
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var shared = report
        nonisolated(unsafe) var sharedCorrupt: Int32 = 0
        DispatchQueue.global().async {
            sharedCorrupt = cinterop_lists(Int32(how), threads, lists, &shared)
            done.signal()
        }
        done.wait()
        report = shared
        corrupt = sharedCorrupt
    } else {
        corrupt = cinterop_lists(Int32(how), threads, lists, &report)
    }
    finish(&report, ["corrupt": Int(corrupt), "lists": Int(threads * lists)])
case "reads-first":
    let count = GC.collectionCount
    if count != 0 || GC.isInitialized {
        fail("GC.collectionCount before the start: \(count), GC.isInitialized \(GC.isInitialized)")
    }
    cinterop_check_reads_before_start(&report)
    finish(&report)
case "heap-limit":
    cinterop_check_heap_limit(&report)
    finish(&report)
case "blocked-create":
    let rounds = arguments.count > 1 ? Int32(arguments[1]) ?? 2_000 : 2_000
    let failed = cinterop_blocked_create(rounds, &report)
    finish(&report, ["failed": Int(failed)])
case "fork":
    let raw = arguments.count > 1 && arguments[1] == "raw"
    let children = arguments.count > 2 ? Int32(arguments[2]) ?? 200 : 200
    // C first: no Swift API of the library has run yet.
    cinterop_start_first(raw ? 1 : 0)
    // What each child does runs once here first (see Tests/Shapes on the
    // Swift runtime's metadata lock).
    if cinterop_child_work() != 0 { fail("the children's work failed in the parent") }
    startWeakTableThread()
    startWeakTableThread()
    cinterop_start_busy_threads()
    usleep(50_000)
    let failed = cinterop_fork_children(children, &report)
    finish(&report, ["failed": Int(failed), "children": Int(children)])
case "adopt":
    cinterop_start_first(1)
    let before = cinterop_raw_collection_number()
    cinterop_raw_collect()
    cinterop_raw_collect()
    // The library has not started; settings given now still apply.
    let configured = Result { try GC.configure(.init(maximumHeapSize: 32 << 20)) }
    GC.initialize()
    let counted = GC.collectionCount
    let libgcCounted = cinterop_raw_collection_number()
    var refusal = ""
    var kept: [GCRoot] = []
    for _ in 0..<64 {
        do { kept.append(try GCRoot(byteCount: 1 << 20, kind: .pointerFree)) } catch {
            refusal = "\(error)"
            break
        }
    }
    let sealed = Result { try GC.configure(.init()) }
    var lines = [
        "\(configured.isSuccess ? "ok" : "FAILED"): GC.configure before the library's first use: \(configured)",
        "\(GC.isInitialized ? "ok" : "FAILED"): GC.isInitialized after GC.initialize",
        "\(counted == libgcCounted && counted >= before + 2 ? "ok" : "FAILED"): collections counted "
            + "\(counted), libgc's \(libgcCounted), two run before the start",
        "\(!refusal.isEmpty && kept.count < 33 ? "ok" : "FAILED"): the 32 MiB limit set after GC_INIT holds: "
            + "\(kept.count) objects of 1 MiB, then \(refusal)",
        "\(sealed.isSuccess ? "FAILED" : "ok"): GC.configure after the start: \(sealed)",
    ]
    // Finalizers and hooks run on the library's thread.
    let counter = Atomic<Int>(0)
    let hook = try! PostGCHook { _ in counter.add(1, ordering: .relaxed) }
    GC.collect()
    GC.runFinalizers()
    lines.append("\(counter.load(ordering: .relaxed) >= 1 ? "ok" : "FAILED"): a post-GC hook ran after a collection")
    hook.cancel()
    for line in lines { print(line) }
    let failures = lines.count { $0.hasPrefix("FAILED") }
    print("result {\"failures\": \(failures)}")
    exit(failures == 0 ? 0 : 1)
case "zlib":
    let streams = arguments.count > 1 ? Int32(arguments[1]) ?? 10_000 : 10_000
    let endEach: Int32 = arguments.count > 2 && arguments[2] == "ended" ? 1 : 0
    let hooks: Int32 = arguments.count > 3 && arguments[3] == "none" ? 0 : 1
    _ = cinterop_zlib(streams, endEach, hooks, &report)
    finish(&report, ["peak_rss": Int(cinterop_peak_resident_bytes())])
case "gmp-counted":
    let rounds = arguments.count > 1 ? Int32(arguments[1]) ?? 100 : 100
    let wrong = cinterop_gmp_counted(rounds, &report)
    finish(&report, ["wrong": Int(wrong), "collections": Int(GC.collectionCount)])
case "gmp-collected":
    let rounds = arguments.count > 1 ? Int32(arguments[1]) ?? 100 : 100
    var collected: Int32 = 0
    let wrong = cinterop_gmp_collected(rounds, &collected, &report)
    finish(&report, ["wrong": Int(wrong), "malloc_limbs_collected": Int(collected), "rounds": Int(rounds)])
case "gmp-oom":
    cinterop_gmp_out_of_memory()
    fail("a number past the heap limit was allocated")
default:
    fail("unknown shape \(arguments.first ?? "(none)"); see the comment at the top of Tests/CShapes/main.swift")
}

extension Result where Failure == any Error {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
