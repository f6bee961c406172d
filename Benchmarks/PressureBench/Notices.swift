// The `notice` mode of pressure-bench: how soon after a kernel pressure
// notice the monitor's level changes.
//
//   pressure-bench notice [--events N] [--threshold-ms T] [--file-mb N] [--seconds N]
//                            [--join-cgroup DIR] [--join-cgroup2 DIR]
//   pressure-bench notice --fake [--events N]
//
// Real: run it in a small memory cgroup (scripts/under-memory-limit.sh 64M
// -- ..., which also gives it a cgroup v2 group of its own for per-group
// pressure figures). It reads a file larger than the limit through the
// group's page cache, so the kernel reclaims and tasks stall on memory, until
// the monitor's PSI trigger fires; then it stops, waits for the level to
// fall, and does it again. A second trigger on the same file, armed by this
// child on its own thread, timestamps when the kernel signalled (the kernel
// checks both in the same pass); a third thread reads the v1 group's
// memory.failcnt every millisecond to timestamp when the group first hit its
// limit (and began to reclaim). Not the pressure file itself: reading it
// runs the kernel's averaging early, and an unprivileged trigger is checked
// only by that averaging's own work, which then finds nothing to do (the
// trigger never fires while something reads the file every 2 s or faster).
//
// Fake: a cgroup v2 directory in /tmp whose memory.events the child rewrites
// (`high` +1); the monitor learns of it through inotify.

import BenchmarkSupport
import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The level changes a notice caused: (when the observer ran, the notice).
let noticeChanges = Mutex<[(UInt64, MemoryPressureNotice)]>([])
/// When the child's own trigger woke its thread.
let kernelSignals = Mutex<[UInt64]>([])
/// When the group's memory.failcnt rose, and to what.
let stallRises = Mutex<[(UInt64, Int)]>([])
let noticeMeasureDone = Atomic<Bool>(false)

/// CLOCK_MONOTONIC nanoseconds of a ContinuousClock instant, through the
/// distance to now on each clock.
func nanosecondsOf(_ instant: ContinuousClock.Instant) -> Int64 {
    let zero = ContinuousClock.now
    let offset = instant - zero
    let (seconds, attoseconds) = offset.components
    return Int64(monotonicNanoseconds()) + seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}

func monotonic(_ instant: ContinuousClock.Instant) -> UInt64 {
    UInt64(nanosecondsOf(instant))
}

func notice(_ arguments: ChildArguments) throws -> Never {
    if arguments.flag("fake") { try fakeNotices(arguments) }
    try joinCgroups(arguments)
    let events = try arguments.int("events", 5)
    let thresholdMs = try arguments.int("threshold-ms", 2)
    let fileMB = try arguments.int("file-mb", 192)
    let seconds = try arguments.int("seconds", 30)
    GC.initialize()
    let hold = Duration.milliseconds(500)
    let monitor = try MemoryPressureMonitor(
        .init(
            samplingInterval: .seconds(3600), samplesAfterCollections: false, collectsOnWarning: false,
            gcHeapBudget: .unwatched, readsResidentSize: false, cgroup: .automatic, readsResourceLimits: false,
            readsMachineMemory: false,
            kernelNotices: .init(
                stallThreshold: .milliseconds(thresholdMs), stallWindow: .seconds(2), cgroupEvents: true, hold: hold)))
    monitor.addObserver { change in
        guard change.current > change.previous, let notice = change.sample.notice else { return }
        noticeChanges.withLock { $0.append((monotonicNanoseconds(), notice)) }
    }
    for source in monitor.kernelNoticeSources { print("armed: \(source)") }
    guard let psi = monitor.kernelNoticeSources.first(where: { $0.contains(": psi ") }) else {
        finish(.notMeasured, ["mode": "notice", "error": "no PSI trigger could be armed"])
    }
    let path = String(psi[..<psi.firstRange(of: ": psi ")!.lowerBound])
    // "... 2 ms in 2000 ms": the trigger as the monitor armed it.
    let numbers = psi.split(separator: " ").compactMap { Int($0) }
    let trigger = "some \(numbers[numbers.count - 2] * 1000) \(numbers[numbers.count - 1] * 1000)"
    startDetachedWatcher(path: path, trigger: trigger)
    if let v1 = monitor.kernelNoticeSources.first(where: { $0.contains("/memory.pressure_level:") }) {
        startFailureSampler(
            path: String(v1[..<v1.firstRange(of: "/memory.pressure_level:")!.lowerBound]) + "/memory.failcnt")
    }

    // A file larger than the group's limit, read through its page cache.
    let file = "/tmp/gc-pressure-notice-\(getpid())"
    let descriptor = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { fail("cannot create \(file)") }
    defer { unlink(file) }
    unlink(file)  // gone when closed
    var chunk = [UInt8](repeating: 0xA5, count: 1 << 20)
    for _ in 0..<fileMB { _ = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } }
    fsync(descriptor)
    let start = monotonicNanoseconds()
    print("file written; reading it through the group's page cache")
    var readBytes = 0
    var measured = 0
    while measured < events && monotonicNanoseconds() - start < UInt64(seconds) * 1_000_000_000 {
        let before = noticeChanges.withLock { $0.count }
        // Stall until the level changes on a notice.
        var offset = 0
        while noticeChanges.withLock({ $0.count }) == before
            && monotonicNanoseconds() - start < UInt64(seconds) * 1_000_000_000
        {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
            offset = count > 0 ? offset + count : 0
            readBytes += max(0, count)
        }
        if noticeChanges.withLock({ $0.count }) > before { measured += 1 }
        // Quiet until the hold ends and the level falls.
        while monitor.level != .normal && monotonicNanoseconds() - start < UInt64(seconds) * 1_000_000_000 {
            usleep(10_000)
        }
        usleep(200_000)
    }
    noticeMeasureDone.store(true, ordering: .relaxed)
    close(descriptor)
    let risesDuring = stallRises.withLock { $0.filter { $0.0 >= start } }
    print(
        "read \(readBytes >> 20) MiB in \(fixed(Double(monotonicNanoseconds() - start) / 1e9, 1)) s;"
            + " memory.failcnt rose \(risesDuring.count) times while reading")
    report(monitor: monitor, measured: measured)
}

/// One line per level change caused by a notice, and the medians.
func report(monitor: MemoryPressureMonitor, measured: Int) -> Never {
    let changes = noticeChanges.withLock { $0 }
    let signals = kernelSignals.withLock { $0 }
    let rises = stallRises.withLock { $0 }
    var fromSignal: [Double] = []
    var fromWake: [Double] = []
    var fromOnset: [Double] = []
    var previous: UInt64 = 0
    for (time, notice) in changes {
        let wake = monotonic(notice.time)
        // The child's own trigger fired in the same kernel pass; its thread
        // may wake a little after the monitor's (then the figure is 0).
        let signal = signals.min { distance($0, time) < distance($1, time) }.flatMap {
            distance($0, time) < 100_000_000 ? min($0, time) : nil
        }
        let onset = rises.first { $0.0 > previous && $0.0 <= time }?.0
        var line = "level raised by \(notice.kind) (\(notice.path)):"
        if let signal {
            fromSignal.append(Double(time - signal) / 1e6)
            line += " \(fixed(Double(time - signal) / 1e6, 3)) ms after the kernel signalled,"
        }
        fromWake.append(Double(time &- wake) / 1e6)
        line += " \(fixed(Double(time &- wake) / 1e6, 3)) ms after the monitor's thread woke"
        if let onset {
            fromOnset.append(Double(time - onset) / 1e6)
            line += ", \(fixed(Double(time - onset) / 1e6, 0)) ms after the group first hit its limit"
        }
        print(line)
        previous = time
    }
    print(
        "the child's own trigger fired \(signals.count) times; memory.failcnt rose \(rises.count) times"
            + " (to \(rises.last?.1 ?? 0))")
    let stallNotices = changes.filter { if case .stall = $0.1.kind { true } else { false } }.count
    print(
        "kernel notice -> level, \(changes.count) changes (\(stallNotices) by PSI): median"
            + " \(fixed(median(fromSignal), 3)) ms after the kernel signalled (max \(fixed(fromSignal.max() ?? .nan, 3))),"
            + " \(fixed(median(fromWake), 3)) ms after the thread woke; limit first hit -> level median"
            + " \(fixed(median(fromOnset), 0)) ms (the kernel's own detection: without CAP_SYS_RESOURCE a PSI"
            + " trigger is checked every 2 s)")
    finish(
        measured > 0 ? .success : .notMeasured,
        [
            "mode": "notice", "changes": changes.count, "stallChanges": stallNotices,
            "signalToLevelMsMedian": fixed(median(fromSignal), 3),
            "signalToLevelMsMax": fixed(fromSignal.max() ?? .nan, 3),
            "wakeToLevelMsMedian": fixed(median(fromWake), 3),
            "onsetToLevelMsMedian": fixed(median(fromOnset), 0),
            "notices": monitor.statistics.notices,
        ])
}

func distance(_ a: UInt64, _ b: UInt64) -> UInt64 { a > b ? a - b : b - a }

/// The child's own PSI trigger on `path`, on a thread of its own (unknown
/// to libgc: it only polls): when the kernel signalled.
func startDetachedWatcher(path: String, trigger: String) {
    let fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
    var bytes = Array(trigger.utf8)
    bytes.append(0)
    guard fd >= 0, bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
        print("cannot arm a trigger of our own on \(path): errno \(errno)")
        return
    }
    startThread {
        while !noticeMeasureDone.load(ordering: .relaxed) {
            var entry = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
            if poll(&entry, 1, 100) > 0 && entry.revents & Int16(POLLPRI) != 0 {
                let now = monotonicNanoseconds()
                kernelSignals.withLock { $0.append(now) }
            }
        }
    }
}

/// Reads a counter file (the v1 group's memory.failcnt) every millisecond.
func startFailureSampler(path: String) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    startThread {
        var last = -1
        var buffer = [UInt8](repeating: 0, count: 64)
        while !noticeMeasureDone.load(ordering: .relaxed) {
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if count > 0, let value = Int(String(decoding: buffer[..<count], as: UTF8.self).prefix { $0.isNumber }) {
                if last >= 0 && value > last {
                    let now = monotonicNanoseconds()
                    stallRises.withLock { $0.append((now, value)) }
                }
                last = value
            }
            usleep(1000)
        }
    }
}

func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(
        &thread, nil,
        { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
    pthread_detach(thread)
}

/// The inotify path on a cgroup v2 directory faked in /tmp.
func fakeNotices(_ arguments: ChildArguments) throws -> Never {
    let events = try arguments.int("events", 20)
    let directory = "/tmp/gc-pressure-fake-\(getpid())"
    mkdir(directory, 0o700)
    func put(_ name: String, _ text: String) {
        // In place (same inode), as the kernel's files change.
        let fd = open(directory + "/" + name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }
    put("memory.max", "1099511627776\n")
    put("memory.current", "1048576\n")
    put("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    defer {
        for name in ["memory.max", "memory.current", "memory.events"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }
    GC.initialize()
    let monitor = try MemoryPressureMonitor(
        .init(
            samplingInterval: .seconds(3600), samplesAfterCollections: false, collectsOnWarning: false,
            gcHeapBudget: .unwatched, readsResidentSize: false, cgroup: .directory(directory),
            readsResourceLimits: false, readsMachineMemory: false,
            kernelNotices: .init(stallThreshold: nil, cgroupEvents: true, hold: .milliseconds(20))))
    monitor.addObserver { change in
        guard change.current > change.previous, let notice = change.sample.notice else { return }
        noticeChanges.withLock { $0.append((monotonicNanoseconds(), notice)) }
    }
    var latencies: [Double] = []
    for event in 1...events {
        let before = noticeChanges.withLock { $0.count }
        let start = monotonicNanoseconds()
        put("memory.events", "low 0\nhigh \(event)\nmax 0\noom 0\noom_kill 0\n")
        while noticeChanges.withLock({ $0.count }) == before && monotonicNanoseconds() - start < 2_000_000_000 {
            usleep(50)
        }
        if let (time, _) = noticeChanges.withLock({ $0.count > before ? $0.last : nil }) {
            latencies.append(Double(time - start) / 1e6)
        }
        while monitor.level != .normal && monotonicNanoseconds() - start < 2_000_000_000 { usleep(1000) }
    }
    print(
        "memory.events (faked in /tmp, inotify) -> level: \(latencies.count) of \(events) changes, median"
            + " \(fixed(median(latencies), 3)) ms after the write, max \(fixed(latencies.max() ?? .nan, 3)) ms")
    finish(
        latencies.count == events ? .success : .notMeasured,
        [
            "mode": "notice-fake", "changes": latencies.count, "writeToLevelMsMedian": fixed(median(latencies), 3),
            "writeToLevelMsMax": fixed(latencies.max() ?? .nan, 3), "sources": monitor.kernelNoticeSources.count,
        ])
}
