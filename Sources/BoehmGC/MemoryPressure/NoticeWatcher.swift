import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's memory-pressure notices a monitor listens to.
///
/// They are file descriptors its sampling thread waits on with `poll`,
/// beside a wakeup eventfd:
///
/// - pressure stall (PSI) triggers, `some` and `full`, written into the
///   process's own cgroup v2 group's `memory.pressure` (per-group figures;
///   the root group's are the machine's), else into `/proc/pressure/memory`:
///   the kernel signals POLLPRI when the stall time within the window passes
///   the threshold (Documentation/accounting/psi.rst). Without
///   CAP_SYS_RESOURCE the kernel takes only windows that are multiples of
///   2 s, checked every 2 s; the watcher then rounds the window up.
/// - cgroup v2 `memory.events` of the groups with a limit, through inotify
///   (the kernel reports a modification when a count changes): `high`,
///   `max`, `oom` and `oom_kill` rising.
/// - cgroup v1 `memory.pressure_level` of the groups with a limit, through
///   `cgroup.event_control` and one eventfd per level (`low`, `medium`,
///   `critical`, mode `local`: reclaim caused by that group's own limit).
///
/// Every descriptor is close-on-exec and closed in deinit (or by
/// ``closeAll()`` in a forked child, which arms its own). A file that is
/// missing, refuses a trigger or is not a kernel file (a regular file
/// standing in for one in a test) is left out.
internal final class NoticeWatcher: Sendable {
    private enum Role: Sendable {
        case wakeup
        case stall(full: Bool)
        case events
        case reclaim(MemoryPressureNotice.ReclaimLevel)
    }

    private struct Source: Sendable {
        var descriptor: Int32
        var role: Role
        var path: String
    }

    /// A v2 `memory.events` file and its last counts.
    private struct EventsFile: Sendable {
        var descriptor: Int32
        var path: String
        var counts: EventCounts
    }

    struct EventCounts: Sendable, Equatable {
        var high = 0
        var max = 0
        var outOfMemory = 0
    }

    /// Wakeup first; every descriptor the watcher owns, events files
    /// included, is in `sources` or `eventsFiles`.
    private let sources: [Source]
    /// The descriptors `poll` waits on.
    ///
    /// -1 for a source that stopped (a PSI trigger whose group was
    /// removed). Only the monitor's thread polls.
    private let pollDescriptors: Lock<[Int32]>
    private let eventsFiles: Lock<[EventsFile]>
    private let closed = Atomic<Bool>(false)
    /// The stall window in force (rounded up to 2 s without
    /// CAP_SYS_RESOURCE); nil with no stall trigger.
    let stallWindow: Duration?
    /// What is armed, one line per file.
    let descriptions: [String]

    /// Arms what `notices` asks for and the files offer.
    ///
    /// - Parameters:
    ///   - notices: What to listen to.
    ///   - levels: The cgroup directories that can hold a limit; notices
    ///     come from those with a limit now.
    ///   - pressureDirectory: The process's own cgroup v2 group, whose
    ///     `memory.pressure` is preferred to `/proc/pressure/memory`.
    init(notices: MemoryPressureMonitor.KernelNotices, levels: [CgroupLevel], pressureDirectory: String?) {
        var sources: [Source] = []
        var eventsFiles: [EventsFile] = []
        var descriptions: [String] = []
        sources.append(Source(descriptor: shim_eventfdNonblocking(), role: .wakeup, path: ""))
        var stallWindow: Duration?
        if let threshold = notices.stallThreshold {
            let ownFile = pressureDirectory.map { $0 + "/memory.pressure" }
            for path in [ownFile, "/proc/pressure/memory"].compactMap({ $0 }) {
                guard
                    let some = Self.armStall(path: path, full: false, threshold: threshold, window: notices.stallWindow)
                else { continue }
                sources.append(Source(descriptor: some.descriptor, role: .stall(full: false), path: path))
                var armed = ["some"]
                if let full = Self.armStall(path: path, full: true, threshold: threshold, window: notices.stallWindow) {
                    sources.append(Source(descriptor: full.descriptor, role: .stall(full: true), path: path))
                    armed.append("full")
                }
                stallWindow = some.window
                descriptions.append(
                    "\(path): psi \(armed.joined(separator: " and ")) \(milliseconds(some.threshold)) ms"
                        + " in \(milliseconds(some.window)) ms")
                break
            }
        }
        if notices.cgroupEvents {
            let limited = levels.filter { $0.read() != nil }
            if limited.contains(where: { $0.version == .v2 }) {
                let inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
                if inotify >= 0 {
                    for level in limited where level.version == .v2 {
                        let path = level.directory + "/memory.events"
                        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
                        guard descriptor >= 0 else { continue }
                        guard inotify_add_watch(inotify, path, UInt32(IN_MODIFY)) >= 0 else {
                            close(descriptor)
                            continue
                        }
                        let counts = Self.readCounts(descriptor) ?? EventCounts()
                        eventsFiles.append(EventsFile(descriptor: descriptor, path: path, counts: counts))
                        descriptions.append("\(path): high, max, oom (inotify)")
                    }
                    if eventsFiles.isEmpty {
                        close(inotify)
                    } else {
                        sources.append(Source(descriptor: inotify, role: .events, path: "inotify"))
                    }
                }
            }
            for level in limited where level.version == .v1 {
                let armed = Self.armReclaim(directory: level.directory)
                guard !armed.isEmpty else { continue }
                let path = level.directory + "/memory.pressure_level"
                sources += armed.map { Source(descriptor: $0.descriptor, role: .reclaim($0.level), path: path) }
                descriptions.append(
                    "\(path): \(armed.map(\.level.rawValue).joined(separator: ", ")) (cgroup.event_control)")
            }
        }
        self.sources = sources
        self.stallWindow = stallWindow
        self.descriptions = descriptions
        pollDescriptors = Lock(sources.map(\.descriptor))
        self.eventsFiles = Lock(eventsFiles)
    }

    deinit {
        closeAll()
    }

    /// Whether anything besides the wakeup is armed.
    var listens: Bool { sources.count > 1 }

    private let wakesOnHeapGrowth = Atomic<Bool>(false)

    /// Makes libgc's heap growth wake ``wait(milliseconds:)`` too (see
    /// ``HeapGrowth``), until ``closeAll()``.
    func wakeOnHeapGrowth() {
        guard sources[0].descriptor >= 0, !wakesOnHeapGrowth.exchange(true, ordering: .relaxed) else { return }
        HeapGrowth.add(sources[0].descriptor)
    }

    /// Closes every descriptor (once): in deinit, and in a forked child,
    /// whose copies the parent's kernel registrations share.
    func closeAll() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        if wakesOnHeapGrowth.load(ordering: .relaxed) { HeapGrowth.remove(sources[0].descriptor) }
        for source in sources where source.descriptor >= 0 { close(source.descriptor) }
        eventsFiles.withLock { files in
            for file in files { close(file.descriptor) }
        }
    }

    /// Wakes a thread waiting in ``wait(milliseconds:)``, to stop or to
    /// sample.
    ///
    /// Async-signal-safe.
    func wake() {
        var one: UInt64 = 1
        _ = write(sources[0].descriptor, &one, 8)
    }

    /// Waits up to `milliseconds` (-1: no limit) for notices or a wakeup.
    ///
    /// Signals interrupt the wait (libgc stops the world with them): it then
    /// returns with nothing, and the caller waits again. Without a wakeup
    /// descriptor the wait is at most 100 ms, so a stop is seen.
    ///
    /// - Returns: The notices, and whether ``wake()`` was called or the heap
    ///   grew.
    func wait(milliseconds: Int32) -> (notices: [MemoryPressureNotice], woken: Bool) {
        var descriptors = pollDescriptors.withLock { $0 }
        var timeout = milliseconds
        if descriptors[0] < 0 { timeout = timeout < 0 ? 100 : min(timeout, 100) }
        // A PSI file always polls readable (POLLIN): only POLLPRI is its
        // event. eventfd and inotify signal POLLIN.
        var set = descriptors.indices.map { index in
            let events: Int32 = if case .stall = sources[index].role { POLLPRI } else { POLLIN }
            return pollfd(fd: descriptors[index], events: Int16(events), revents: 0)
        }
        let ready = poll(&set, nfds_t(set.count), timeout)
        guard ready > 0 else { return ([], false) }
        let now = ContinuousClock.now
        var notices: [MemoryPressureNotice] = []
        var woken = false
        for (index, entry) in set.enumerated() where entry.revents != 0 {
            let source = sources[index]
            switch source.role {
            case .wakeup:
                drain(source.descriptor)
                woken = true
            case .stall(let full):
                if entry.revents & Int16(POLLERR) != 0 {
                    // The trigger is gone (its group was removed).
                    descriptors[index] = -1
                } else if entry.revents & Int16(POLLPRI) != 0 {
                    notices.append(
                        MemoryPressureNotice(
                            kind: .stall(full: full), path: source.path, level: full ? .critical : .warning,
                            time: now))
                }
            case .events:
                drain(source.descriptor)
                notices += readEventsFiles(at: now)
            case .reclaim(let level):
                var count: UInt64 = 0
                if read(source.descriptor, &count, 8) == 8 && count > 0 {
                    let raised: MemoryPressureLevel =
                        switch level {
                        case .low: .normal
                        case .medium: .warning
                        case .critical: .critical
                        }
                    notices.append(
                        MemoryPressureNotice(kind: .reclaim(level: level), path: source.path, level: raised, time: now))
                }
            }
        }
        if descriptors.contains(-1) {
            let stopped = descriptors
            pollDescriptors.withLock { current in
                for index in current.indices where stopped[index] < 0 { current[index] = -1 }
            }
        }
        return (notices, woken)
    }

    /// Reads every `memory.events` file; a notice for each count that rose.
    private func readEventsFiles(at now: ContinuousClock.Instant) -> [MemoryPressureNotice] {
        eventsFiles.withLock { files in
            var notices: [MemoryPressureNotice] = []
            for index in files.indices {
                guard let counts = Self.readCounts(files[index].descriptor) else { continue }
                let last = files[index].counts
                let path = files[index].path
                if counts.outOfMemory > last.outOfMemory {
                    notices.append(.init(kind: .cgroupOutOfMemory, path: path, level: .critical, time: now))
                }
                if counts.max > last.max {
                    notices.append(.init(kind: .cgroupMax, path: path, level: .critical, time: now))
                }
                if counts.high > last.high {
                    notices.append(.init(kind: .cgroupHigh, path: path, level: .warning, time: now))
                }
                files[index].counts = counts
            }
            return notices
        }
    }

    private static var highKey: KeyName { KeyName("high") }
    private static var maxKey: KeyName { KeyName("max") }
    private static var oomKey: KeyName { KeyName("oom") }
    private static var oomKillKey: KeyName { KeyName("oom_kill") }

    /// The counts of a `memory.events` file (`low N`, `high N`, `max N`,
    /// `oom N`, `oom_kill N`, ...); nil if it cannot be read.
    private static func readCounts(_ descriptor: Int32) -> EventCounts? {
        withUnsafeTemporaryAllocation(byteCount: 512, alignment: 8) { buffer -> EventCounts? in
            var count: Int
            repeat {
                count = pread(descriptor, buffer.baseAddress, buffer.count, 0)
            } while count < 0 && errno == EINTR
            guard count > 0 else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<count])
            return EventCounts(
                high: keyedValue(bytes, key: highKey) ?? 0, max: keyedValue(bytes, key: maxKey) ?? 0,
                outOfMemory: (keyedValue(bytes, key: oomKey) ?? 0) + (keyedValue(bytes, key: oomKillKey) ?? 0))
        }
    }

    /// Reads a non-blocking descriptor (eventfd, inotify) until it is empty.
    private func drain(_ descriptor: Int32) {
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { buffer in
            while read(descriptor, buffer.baseAddress, buffer.count) > 0 {}
        }
    }

    // MARK: Arming

    private static let procSuperMagic = 0x9fa0
    private static let cgroup2SuperMagic = 0x6367_7270
    private static let cgroupSuperMagic = 0x27_e0eb

    /// Opens `path` and writes a `some` or `full` trigger into it; nil if the
    /// file is missing, no kernel file, or refuses the trigger.
    ///
    /// The kernel replaces the last byte written with a NUL, so the text
    /// goes with its terminating NUL. Without CAP_SYS_RESOURCE it refuses
    /// windows that are not multiples of 2 s (EINVAL); the window is then
    /// rounded up (at most 10 s) and the threshold scaled with it.
    private static func armStall(
        path: String, full: Bool, threshold: Duration, window: Duration
    ) -> (descriptor: Int32, threshold: Duration, window: Duration)? {
        let descriptor = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        let type = shim_fileSystemType(descriptor)
        guard type == procSuperMagic || type == cgroup2SuperMagic else {
            close(descriptor)
            return nil
        }
        func arm(_ threshold: Duration, _ window: Duration) -> Bool {
            let text = "\(full ? "full" : "some") \(microseconds(threshold)) \(microseconds(window))"
            var bytes = Array(text.utf8)
            bytes.append(0)
            return bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == bytes.count
        }
        if arm(threshold, window) { return (descriptor, threshold, window) }
        let twoSeconds = Duration.seconds(2)
        let rounded = min(.seconds(10), twoSeconds * Int((window / twoSeconds).rounded(.up)))
        if errno == EINVAL && rounded != window {
            let scaled = threshold * (rounded / window)
            if arm(scaled, rounded) { return (descriptor, scaled, rounded) }
        }
        close(descriptor)
        return nil
    }

    /// Registers eventfds for the v1 group's `memory.pressure_level`; the
    /// levels that took.
    private static func armReclaim(
        directory: String
    ) -> [(descriptor: Int32, level: MemoryPressureNotice.ReclaimLevel)] {
        let levelFile = open(directory + "/memory.pressure_level", O_RDONLY | O_CLOEXEC)
        guard levelFile >= 0 else { return [] }
        defer { close(levelFile) }
        guard shim_fileSystemType(levelFile) == cgroupSuperMagic else { return [] }
        let control = open(directory + "/cgroup.event_control", O_WRONLY | O_CLOEXEC)
        guard control >= 0 else { return [] }
        defer { close(control) }
        var armed: [(descriptor: Int32, level: MemoryPressureNotice.ReclaimLevel)] = []
        for level in MemoryPressureNotice.ReclaimLevel.allCases {
            let descriptor = shim_eventfdNonblocking()
            guard descriptor >= 0 else { break }
            // "local": only reclaim this group's own limit caused (kernels
            // before 4.10 know no mode: then the plain level).
            let registered = ["\(level),local", "\(level)"].contains { argument in
                let text = "\(descriptor) \(levelFile) \(argument)"
                return text.utf8CString.withUnsafeBytes { write(control, $0.baseAddress, $0.count - 1) } > 0
            }
            if registered {
                armed.append((descriptor, level))
            } else {
                close(descriptor)
            }
        }
        return armed
    }
}

private func microseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
}

private func milliseconds(_ duration: Duration) -> Int64 { microseconds(duration) / 1000 }
