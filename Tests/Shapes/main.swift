// gc-shapes: program shapes the collector must survive (threads that exit
// with signals blocked, modules unloaded during a collection, fork), each a
// child process the tests run many times (CrashShapeTests). A shape
// exits 0 when it ran to the end and every check held, non-zero with a
// message otherwise; a crash is a signal.
//
//   gc-shapes async-main [SECONDS]   top-level await: the main thread ends in
//                                    dispatch_main() while threads allocate
//   gc-shapes blocked-exit           threads exit with every signal blocked
//   gc-shapes dispatch               Dispatch workers and Swift tasks come
//                                    and go while threads collect
//   gc-shapes iconv                  threads open and close iconv converters
//                                    (glibc unloads gconv modules) while
//                                    another collects
//   gc-shapes fork [CHILDREN]        fork while other threads allocate,
//                                    finalize, write ports and use tables;
//                                    each child allocates, collects and runs
//                                    finalizers
//   gc-shapes trap-backtrace         the library's threads running (the
//                                    finalizer thread, the weak sweep's
//                                    helpers, libgc's markers), a
//                                    collection, then a trap: the Swift
//                                    runtime's backtrace must reach every
//                                    thread
//   gc-shapes foreign-sizes [unreadable]
//                                    what the library measures under this
//                                    process's malloc (run under LD_PRELOAD):
//                                    a result line with the malloc it read, a
//                                    100,000-byte block's measured size and a
//                                    port's converter; `unreadable` takes the
//                                    malloc for one it cannot read
import BoehmGC
import Dispatch
import GCPorts
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A malloc'd block owned by a ForeignResource (closed once, by its close
/// function).
struct Block: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
}

func fail(_ message: String) -> Never {
    print("FAIL: \(message)")
    exit(1)
}

func startThread(_ body: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?) {
    var thread = pthread_t()
    guard pthread_create(&thread, nil, body, nil) == 0 else { fail("pthread_create") }
    pthread_detach(thread)
}

nonisolated func allocateForever(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    while true { _ = try? GCRoot(byteCount: 4096) }
}

nonisolated func collectForever(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    while true {
        GC.collect()
        usleep(100)
    }
}

/// Registers, then blocks every signal (as dispatch_main() does before its
/// pthread_exit) and exits while collections run.
nonisolated func exitWithSignalsBlocked(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    _ = try? GCRoot(byteCount: 64)
    var all = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_BLOCK, &all, nil)
    usleep(200)
    return nil
}

/// Four 8-bit encodings: glibc loads one gconv module for each and unloads
/// an idle one after a few iconv_close calls.
nonisolated func churnConverters(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    GC.registerCurrentThread()
    let names = ["ISO-8859-5", "ISO-8859-7", "KOI8-R", "CP1251"]
    var i = 0
    while true {
        let converter = iconv_open(names[i & 3], "UTF-8")
        if Int(bitPattern: converter) != -1 { iconv_close(converter) }
        i &+= 1
    }
}

/// The first line of /proc/self/task/`id`/`file` that starts with
/// `prefix`, or nil.
func taskLine(_ id: String, _ file: String, startingWith prefix: String) -> String? {
    guard let stream = fopen("/proc/self/task/\(id)/\(file)", "r") else { return nil }
    defer { fclose(stream) }
    var buffer = [CChar](repeating: 0, count: 256)
    while fgets(&buffer, 256, stream) != nil {
        let bytes = buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix(prefix) { return line }
    }
    return nil
}

/// Waits (2 s at most) until no thread blocks SIGUSR1, SIGUSR2 and SIGPROF
/// together, as a thread inside libgc's suspend handler does: a
/// collection stops the world by signalling every registered thread, whose
/// handler blocks every signal but libgc's restart signal, and a thread
/// leaves it some time after the collection returns (on a loaded machine,
/// milliseconds). libgc's markers, which block them for good, are left out.
func waitUntilNoThreadIsInASignalHandler() {
    let all: UInt64 = (1 << (UInt64(SIGUSR1) - 1)) | (1 << (UInt64(SIGUSR2) - 1)) | (1 << (UInt64(SIGPROF) - 1))
    for _ in 0..<2_000 {
        let blocking = threadsOfThisProcess().filter { id, name in
            guard !name.hasPrefix("GC-marker"),
                let line = taskLine(id, "status", startingWith: "SigBlk:"),
                let mask = UInt64(line.dropFirst(7).filter { $0 != " " && $0 != "\t" }, radix: 16)
            else { return false }
            return mask & all == all
        }
        if blocking.isEmpty { return }
        usleep(1_000)
    }
}

/// The threads of this process: their ids and names (/proc/self/task).
func threadsOfThisProcess() -> [(id: String, name: String)] {
    guard let directory = opendir("/proc/self/task") else { fail("opendir /proc/self/task: errno \(errno)") }
    defer { closedir(directory) }
    var threads: [(id: String, name: String)] = []
    while let entry = readdir(directory) {
        let id = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if id.hasPrefix(".") { continue }
        threads.append((id, taskLine(id, "comm", startingWith: "") ?? "?"))
    }
    return threads
}

let finalized = Atomic<Int>(0)

/// Drops objects with finalizers, writes string ports, uses a weak table
/// and collects, for ever: every lock of the library is busy at a fork.
nonisolated func keepTheLibraryBusy(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let table = try! GCWeakTable(weakness: .keys)
    while true {
        for _ in 0..<100 {
            let object = try! GCRoot(byteCount: 32)
            try! object.setFinalizer { _ in finalized.add(1, ordering: .relaxed) }
            try! table.setValue(object, forKey: object)
        }
        _ = try? withOutputToString(encoding: "ISO-8859-15") { try $0.write("€ and more\n") }
        GC.collect()
    }
}

@inline(never)
func dropFinalizable(_ count: Int) {
    for _ in 0..<count {
        let object = try! GCRoot(byteCount: 32)
        try! object.setFinalizer { _ in finalized.add(1, ordering: .relaxed) }
    }
}

nonisolated func allocateAndReturn(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    for _ in 0..<500 { _ = try? GCRoot(byteCount: 128) }
    return nil
}

/// Dispatch workers, Swift tasks and short-lived pthreads allocate while
/// another thread collects.
nonisolated func dispatchWorkersComeAndGo() async {
    startThread(collectForever)
    for round in 0..<20 {
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<500 { _ = try? GCRoot(byteCount: 128) }
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<500 { _ = try? GCRoot(byteCount: 128) }
                }
            }
        }
        var thread = pthread_t()
        pthread_create(&thread, nil, allocateAndReturn, nil)
        pthread_join(thread, nil)
        if round % 5 == 4 { try? await Task.sleep(for: .milliseconds(20)) }
    }
}

/// What each forked child does; returns its exit status.
func childOfFork(_ monitor: MemoryPressureMonitor) -> Int32 {
    // The monitor's thread (and its kernel notices) started again: it
    // samples every 5 ms (nothing collects here meanwhile, so no post-GC
    // hook samples).
    let samples = monitor.statistics.samples
    var sampleWait = 0
    while monitor.statistics.samples < samples + 3 && sampleWait < 3_000 {
        usleep(1_000)
        sampleWait += 1
    }
    var kept: [GCRoot] = []
    for i in 0..<2_000 {
        let root = try! GCRoot(byteCount: 48)
        root.withUnsafeMutableBytes { $0.storeBytes(of: i, as: Int.self) }
        kept.append(root)
    }
    let before = finalized.load(ordering: .relaxed)
    dropFinalizable(200)
    GC.collect()
    GC.runFinalizers()
    let ranHere = finalized.load(ordering: .relaxed) - before
    // The finalizer thread was started again in the child.
    dropFinalizable(200)
    GC.collect()
    var waited = 0
    while finalized.load(ordering: .relaxed) - before - ranHere == 0 && waited < 2_000 {
        usleep(1_000)
        waited += 1
    }
    let ranOnThread = finalized.load(ordering: .relaxed) - before - ranHere
    let table = try! GCWeakTable(weakness: .keys)
    for root in kept.prefix(100) { try! table.setValue(root, forKey: root) }
    let bytes = try! withOutputToString(encoding: "ISO-8859-15") { try $0.write("10 €") }
    let intact = kept.enumerated().allSatisfy { i, root in root.withUnsafeMutableBytes { $0.load(as: Int.self) } == i }
    let monitorSampled = monitor.statistics.samples >= samples + 3
    guard intact, table.count == 100, bytes == [0x31, 0x30, 0x20, 0xA4], ranHere > 0, ranOnThread > 0,
        monitorSampled
    else {
        print(
            "FAIL in child: intact \(intact), table \(table.count), port \(bytes), "
                + "finalizers at runFinalizers \(ranHere), on the thread \(ranOnThread), "
                + "memory-pressure monitor sampled \(monitorSampled)")
        return 1
    }
    return 0
}

let arguments = Array(CommandLine.arguments.dropFirst())
let shape = arguments.first ?? ""
GC.initialize()
switch shape {
case "async-main":
    let seconds = arguments.count > 1 ? Double(arguments[1]) ?? 1 : 1
    startThread(allocateForever)
    startThread(allocateForever)
    // The first await ends the main thread's own life in dispatch_main(),
    // which blocks its signals and calls pthread_exit.
    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
case "blocked-exit":
    startThread(allocateForever)
    for _ in 0..<200 {
        var thread = pthread_t()
        guard pthread_create(&thread, nil, exitWithSignalsBlocked, nil) == 0 else { fail("pthread_create") }
        pthread_join(thread, nil)
    }
case "dispatch":
    await dispatchWorkersComeAndGo()
case "foreign-sizes":
    if arguments.count > 1 && arguments[1] == "unreadable" { ForeignResources.treatMallocAsUnreadable() }
    try! Ports.configure(.init(converters: .perPort))
    let block = try! ForeignResource<Block>(
        release: .finalizer, open: { Block(pointer: malloc(100_000)!) }, close: { free($0.pointer) })
    let port = try! OutputPort.openString(encoding: "ISO-8859-15")
    let measurement =
        switch ForeignResources.mallocMeasurement {
        case .glibc: "glibc"
        case .jemalloc: "jemalloc"
        case .unavailable: "unavailable"
        }
    print(
        "result {\"measurement\": \"\(measurement)\", \"block\": \(block.byteCount), "
            + "\"converter\": \(port.foreignByteCount), \"in_use\": \(ForeignResources.mallocBytesInUse)}")
    block.close()
    try! port.close()
case "trap-backtrace":
    // A storage of 32 Ki slots or more starts the sweep's helper threads (on
    // a machine with more than one processor); the finalizer thread runs
    // from the start, and libgc's markers from GC_INIT.
    let table = try! GCWeakTable(weakness: .keys)
    try! table.reserveCapacity(40_000)
    for _ in 0..<1_000 {
        let object = try! GCRoot(byteCount: 32)
        try! table.setValue(object, forKey: object)
    }
    GC.collect()
    GC.runFinalizers()
    withExtendedLifetime(table) {}
    // A trap while a collection has the world stopped, or just after one,
    // finds the stopped threads still in libgc's suspend handler, which
    // the crash handler cannot suspend (ThreadsAndFork.md, "Crash
    // backtraces"); what this shape checks is the threads' own masks.
    waitUntilNoThreadIsInASignalHandler()
    // Which thread is which, for the test to read the crash handler's
    // complaints by (it names a thread by its id only).
    for (id, name) in threadsOfThisProcess() { print("thread \(id) \(name)") }
    fflush(nil)  // all streams: the trap kills the process with its buffers
    fatalError("trap-backtrace: the trap this shape ends in")
case "iconv":
    startThread(churnConverters)
    startThread(churnConverters)
    for _ in 0..<2_000 { GC.collect() }
case "fork":
    let children = arguments.count > 1 ? Int(arguments[1]) ?? 100 : 100
    // The children's code runs once here first. The Swift runtime makes a
    // type's metadata on its first use, under a lock of its own that fork
    // copies held when another thread is making metadata: a child that
    // first needs a type then waits for ever (most of all in debug builds,
    // where generic code is not specialised). The library makes what its
    // own fork handling needs before any fork; a program's child code must
    // have run in the parent, as here (see the README on fork).
    // A memory-pressure monitor runs across the forks (its thread and kernel
    // notices are started again in each child).
    let monitor = try MemoryPressureMonitor(.init(samplingInterval: .milliseconds(5)))
    if childOfFork(monitor) != 0 { fail("the children's work failed in the parent") }
    startThread(keepTheLibraryBusy)
    startThread(keepTheLibraryBusy)
    var failed: [String] = []
    for _ in 0..<children {
        usleep(UInt32.random(in: 0..<2_000))
        let pid = fork()
        if pid < 0 { fail("fork: errno \(errno)") }
        if pid == 0 { exit(childOfFork(monitor)) }
        // A child that hangs is killed after 30 s of wall time (and
        // counted): it must not outlive this process holding the test's
        // output pipe.
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline {
                // SIGABRT first: with SWIFT_BACKTRACE on, the child prints
                // where it hangs before it dies.
                print("child \(pid) hung for 30 s: killed")
                kill(pid, SIGABRT)
                usleep(5_000_000)
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                status = -1
                break
            }
            usleep(1_000)
        }
        if status == -1 {
            failed.append("hung")
        } else if status != 0 {
            let signal = status & 0x7F
            failed.append(signal != 0 ? "signal \(signal)" : "exit \((status >> 8) & 0xFF)")
        }
    }
    // The parent is unaffected.
    let before = finalized.load(ordering: .relaxed)
    dropFinalizable(100)
    GC.collect()
    GC.runFinalizers()
    let parentFinalized = finalized.load(ordering: .relaxed) - before
    print("children \(children), failed \(failed.count) \(failed.prefix(5)), parent finalized \(parentFinalized)")
    if !failed.isEmpty { exit(1) }
default:
    fail("unknown shape \(shape.debugDescription); see the comment at the top of Tests/Shapes/main.swift")
}
print("ok \(shape): \(GC.collectionCount) collections")
exit(0)
