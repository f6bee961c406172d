import BoehmGC
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A cgroup tree faked in /tmp: directories and the kernel's file names,
/// rewritten in place (same inode) as the kernel's files change.
final class FakeCgroupTree {
    let root: String

    init() throws {
        root = "/tmp/gc-cgroup-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// Writes `contents` (and a newline) to `group`/`name`, creating the
    /// group's directory; `group` "" is the root.
    func write(_ name: String, _ contents: String, in group: String = "") throws {
        let directory = group.isEmpty ? root : root + group
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(directory + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        let bytes = Array((contents + "\n").utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// The configuration that reads only the given cgroup source.
func cgroupOnly(_ source: MemoryPressureMonitor.CgroupSource) -> MemoryPressureMonitor.Configuration {
    isolatedConfiguration(cgroup: source)
}

@Suite struct MemoryLimitTests {
    /// A cgroup v2 tree: /app (memory.max 100 GiB, 60 GiB current, 10 GiB
    /// inactive file cache) holds /app/worker (memory.max `max`,
    /// memory.high 500 GiB). The tightest limit on the path up from the
    /// worker dominates: /app's max (50 %) over the worker's high (9 %),
    /// until the worker's high is lowered past it.
    @Test func tightestLimitOnThePathUpDominates() throws {
        let tree = try FakeCgroupTree()
        let gib = 1 << 30
        try tree.write("memory.max", "\(100 * gib)", in: "/app")
        try tree.write("memory.high", "max", in: "/app")
        try tree.write("memory.current", "\(60 * gib)", in: "/app")
        try tree.write(
            "memory.stat", "anon \(40 * gib)\nfile \(20 * gib)\nactive_file 1\ninactive_file \(10 * gib)", in: "/app")
        try tree.write("memory.max", "max", in: "/app/worker")
        try tree.write("memory.high", "\(500 * gib)", in: "/app/worker")
        try tree.write("memory.current", "\(44 * gib)", in: "/app/worker")
        try tree.write("memory.stat", "inactive_file 0", in: "/app/worker")
        let monitor = try MemoryPressureMonitor(cgroupOnly(.hierarchy(mountPoint: tree.root, group: "/app/worker")))
        #expect(monitor.cgroupDirectory == tree.root + "/app/worker")
        var sample = monitor.latestSample
        let app = try #require(sample.cgroupLimit)
        #expect(app.source == .cgroupV2Max(directory: tree.root + "/app"))
        #expect(app.limitBytes == 100 * gib && app.usageBytes == 60 * gib && app.inactiveFileBytes == 10 * gib)
        // Free GC heap bytes (a few MiB here) are all that is counted besides.
        #expect(abs(app.utilization - 0.5) < 0.001, "\(app)")
        #expect(sample.dominantBudget == .cgroup)
        #expect(sample.systemLimit == app)
        #expect(monitor.level == .normal)

        try tree.write("memory.high", "\(50 * gib)", in: "/app/worker")
        sample = monitor.sample()
        let worker = try #require(sample.cgroupLimit)
        #expect(worker.source == .cgroupV2High(directory: tree.root + "/app/worker"))
        // 44 of 50 GiB, less the free GC heap bytes: below the critical
        // threshold (0.9) whatever the free bytes are.
        #expect(worker.utilization > 0.87 && worker.utilization <= 0.88, "\(worker)")
        #expect(monitor.level == .warning)

        let all = try MemoryPressureMonitor.systemLimits(
            cgroupOnly(.hierarchy(mountPoint: tree.root, group: "/app/worker")))
        #expect(
            all.map(\.source) == [
                .cgroupV2High(directory: tree.root + "/app/worker"), .cgroupV2Max(directory: tree.root + "/app"),
            ])
    }

    /// A cgroup v1 memory group: memory.limit_in_bytes, the soft limit, and
    /// usage_in_bytes less the hierarchical inactive file cache
    /// (total_inactive_file, not the group's own inactive_file). v1's
    /// "unlimited" (2^63 rounded down to a page) is no limit.
    @Test func cgroupV1LimitSoftLimitAndInactiveFileCache() throws {
        let tree = try FakeCgroupTree()
        let gib = 1 << 30
        try tree.write("memory.limit_in_bytes", "\(200 * gib)")
        try tree.write("memory.soft_limit_in_bytes", "9223372036854771712")
        try tree.write("memory.usage_in_bytes", "\(191 * gib)")
        try tree.write(
            "memory.stat", "cache 1\nrss 2\ninactive_file \(1 * gib)\ntotal_cache 3\ntotal_inactive_file \(40 * gib)")
        let monitor = try MemoryPressureMonitor(cgroupOnly(.directory(tree.root)))
        var limit = try #require(monitor.latestSample.cgroupLimit)
        #expect(limit.source == .cgroupV1Limit(directory: tree.root))
        #expect(limit.inactiveFileBytes == 40 * gib)
        #expect(abs(limit.utilization - 0.755) < 0.001, "\(limit)")
        #expect(monitor.level == .warning)
        // A soft limit below the hard one: it is the tighter.
        try tree.write("memory.soft_limit_in_bytes", "\(160 * gib)")
        limit = try #require(monitor.sample().cgroupLimit)
        #expect(limit.source == .cgroupV1SoftLimit(directory: tree.root))
        #expect(monitor.level == .critical)
        // Odd files (empty, words, negative, zero, huge) mean no limit; each
        // in a new monitor (a level found without a limit is read again only
        // a second later).
        for odd in ["", "unlimited", "-1", "0", "99999999999999999999"] {
            try tree.write("memory.limit_in_bytes", odd)
            try tree.write("memory.soft_limit_in_bytes", odd)
            let fresh = try MemoryPressureMonitor(cgroupOnly(.directory(tree.root)))
            #expect(fresh.latestSample.cgroupLimit == nil, "\(odd.debugDescription) read as a limit")
        }
    }

    /// The GC heap's free bytes are subtracted from a group's usage only
    /// down to the GC heap in use: a usage below the heap in use (a group
    /// charged less than the process's resident pages) counts the heap in
    /// use as used, not 0.
    @Test func freeGCHeapBytesLeaveTheHeapInUseCounted() throws {
        let tree = try FakeCgroupTree()
        try tree.write("memory.max", "\(1 << 30)")
        try tree.write("memory.current", "4096")
        try tree.write("memory.stat", "inactive_file 0")
        let monitor = try MemoryPressureMonitor(cgroupOnly(.directory(tree.root)))
        let sample = monitor.latestSample
        let limit = try #require(sample.cgroupLimit)
        #expect(sample.gcInUseBytes >= 4096, "\(sample.gcInUseBytes) bytes of GC heap in use")
        #expect(limit.freeGCHeapBytes == 0 && limit.usedBytes == 4096, "\(limit)")
    }

    /// Configuration the monitor cannot follow is an error that says what,
    /// and starts nothing.
    @Test func badConfigurationThrowsAndSaysWhy() throws {
        let tree = try FakeCgroupTree()
        try tree.write("notes", "no memory files here")
        let cases: [(MemoryPressureMonitor.Configuration, String)] = [
            (cgroupOnly(.directory("/nonexistent/cgroup")), "does not exist"),
            (cgroupOnly(.directory(tree.root)), "holds neither memory.max"),
            (cgroupOnly(.hierarchy(mountPoint: "/nonexistent", group: "/")), "does not exist"),
            (cgroupOnly(.hierarchy(mountPoint: tree.root, group: "app")), "must start with /"),
            (cgroupOnly(.hierarchy(mountPoint: tree.root, group: "/missing")), "does not exist"),
            (isolatedConfiguration(kernelNotices: .init(stallThreshold: .seconds(2))), "stallThreshold"),
            (isolatedConfiguration(kernelNotices: .init(stallThreshold: .zero)), "stallThreshold"),
            (isolatedConfiguration(kernelNotices: .init(stallWindow: .milliseconds(100))), "stallWindow"),
            (isolatedConfiguration(kernelNotices: .init(stallWindow: .seconds(11))), "stallWindow"),
            (isolatedConfiguration(kernelNotices: .init(hold: .seconds(-1))), "hold"),
            (.init(warningThreshold: 0.9, criticalThreshold: 0.8), "thresholds"),
            (.init(hysteresis: 0.8), "hysteresis"),
        ]
        for (configuration, words) in cases {
            do {
                _ = try MemoryPressureMonitor(configuration)
                Issue.record("accepted a configuration that should fail with \(words)")
            } catch {
                guard case .invalidArgument(let message) = error else {
                    Issue.record("\(error) instead of invalidArgument")
                    continue
                }
                #expect(message.contains(words), "\(message)")
            }
        }
        #expect(throws: GCError.self) { try MemoryPressureMonitor.systemLimits(cgroupOnly(.directory("/nonexistent"))) }
        for share in [0, -0.5, 1.5, .nan] {
            #expect(throws: GCError.invalidArgument("maximumHeapShare must be in (0, 1], got \(share)")) {
                try GC.configure(.init(maximumHeapShare: share))
            }
        }
    }

    /// cgroup v2 memory.events through inotify: `high` rising raises the
    /// level to warning at once (the timer is an hour away), `max` to
    /// critical; each is held for the notice's hold, then the level falls.
    @Test func memoryEventsRaiseTheLevelAtOnce() async throws {
        let tree = try FakeCgroupTree()
        try tree.write("memory.max", "\(1 << 40)")
        try tree.write("memory.current", "\(1 << 20)")
        try tree.write("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0")
        let monitor = try MemoryPressureMonitor(
            isolatedConfiguration(
                cgroup: .directory(tree.root),
                kernelNotices: .init(stallThreshold: nil, cgroupEvents: true, hold: .milliseconds(100)),
                samplingInterval: .seconds(3600)))
        #expect(monitor.kernelNoticeSources == ["\(tree.root)/memory.events: high, max, oom (inotify)"])
        let clock = ContinuousClock()
        let seen = Locked<[(MemoryPressureLevel, MemoryPressureNotice?, ContinuousClock.Instant)]>([])
        monitor.addObserver { change in seen.withLock { $0.append((change.current, change.sample.notice, clock.now)) } }

        typealias Change = (level: MemoryPressureLevel, notice: MemoryPressureNotice?, time: ContinuousClock.Instant)
        /// The first change to `level` (there is one of each here: nothing
        /// else moves the level), waiting for it up to 30 s.
        func change(to level: MemoryPressureLevel, after start: ContinuousClock.Instant) async throws -> Change? {
            // Looks once more after the deadline: a loaded machine can keep
            // this task from running for longer than the wait.
            while true {
                let late = clock.now - start >= .seconds(30)
                if let change = seen.value.first(where: { $0.0 == level }) { return change }
                if late { return nil }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let firstWrite = clock.now
        try tree.write("memory.events", "low 0\nhigh 1\nmax 0\noom 0\noom_kill 0")
        let warning = try #require(
            try await change(to: .warning, after: firstWrite),
            "never raised: \(seen.value), \(monitor.statistics), file: \(String(decoding: readFile(tree.root + "/memory.events"), as: UTF8.self))"
        )
        #expect(warning.notice?.kind == .cgroupHigh)
        #expect(warning.notice?.path == tree.root + "/memory.events")
        let normal = try #require(try await change(to: .normal, after: warning.time), "never fell after the hold")
        let secondWrite = clock.now
        try tree.write("memory.events", "low 0\nhigh 1\nmax 1\noom 0\noom_kill 0")
        let critical = try #require(try await change(to: .critical, after: secondWrite), "never raised to critical")
        #expect(critical.notice?.kind == .cgroupMax)
        // From when the thread woke for the notice (the hold starts after).
        let fell = normal.time - (warning.notice?.time ?? warning.time)
        print(
            "memory.events (inotify) -> level: warning \(milliseconds(warning.time - firstWrite)) ms after the write,"
                + " normal again \(milliseconds(fell)) ms later (hold 100 ms), critical"
                + " \(milliseconds(critical.time - secondWrite)) ms after the next; \(monitor.statistics.notices) notices"
        )
        #expect(fell >= .milliseconds(100), "the hold was not kept")
        #expect(monitor.statistics.notices == 2)
        monitor.stop()
    }

    /// At the heap limit, data dropped without a collection is found by the
    /// next allocations: a failed allocation collects once (libgc alone
    /// would return NULL for ever when little was allocated since its last
    /// collection). The child fills a 24 MiB heap, drops every second
    /// object, and 20 pauses later (as a server's next request) allocates
    /// them again with no GC.collect() of its own.
    @Test func allocationsAtTheHeapLimitFindDroppedDataWithoutACollectCall() async throws {
        let outcome = try await PressureChild.run(["heap-limit", "--limit-mb", "24", "--without-collect"])
        #expect(outcome.succeeded, "\(outcome)")
        #expect(outcome.int("reallocated") * 2 >= outcome.int("dropped"), "\(outcome.result)")
    }

    /// Where the kernel has PSI, a default monitor arms `some` and `full`
    /// triggers on the process's group's memory.pressure or on
    /// /proc/pressure/memory, with a window the kernel takes (2 s without
    /// CAP_SYS_RESOURCE).
    @Test func stallTriggersAreArmedWherePSIExists() throws {
        guard access("/proc/pressure/memory", R_OK) == 0 else {
            print("skipped: no /proc/pressure/memory (kernel without PSI)")
            return
        }
        let monitor = try MemoryPressureMonitor(
            .init(
                samplingInterval: nil, samplesAfterCollections: false, collectsOnWarning: false,
                readsMachineMemory: false))
        defer { monitor.stop() }
        print("armed: \(monitor.kernelNoticeSources)")
        guard let psi = monitor.kernelNoticeSources.first(where: { $0.contains(": psi ") }) else {
            // A container may refuse the write (no write access to the file).
            print("skipped: this process may not write a PSI trigger (\(monitor.kernelNoticeSources))")
            return
        }
        #expect(
            psi.hasSuffix("/memory.pressure: psi some and full 100 ms in 1000 ms")
                || psi.hasSuffix("/memory.pressure: psi some and full 200 ms in 2000 ms")
                || psi.hasPrefix("/proc/pressure/memory: psi some and full"), "\(psi)")
    }
}

/// Tests with a real cgroup v1 memory group, made by the test and removed
/// afterwards, with a child process inside (root and the v1 memory
/// controller needed; skipped with a message otherwise).
@Suite(.serialized) struct CgroupV1LimitTests {
    /// A v1 memory group under the test process's own, with `limit`; nil
    /// (after a message) where one cannot be made.
    static func makeGroup(limit: Int) -> String? {
        guard getuid() == 0 else {
            print("skipped: making a cgroup needs root")
            return nil
        }
        let own = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?
            .split(separator: "\n").first { $0.split(separator: ":", maxSplits: 2).dropFirst().first == "memory" }?
            .split(separator: ":", maxSplits: 2).last.map(String.init)
        let mount = "/sys/fs/cgroup/memory"
        guard let own, access(mount + own + "/memory.limit_in_bytes", W_OK) == 0 else {
            print("skipped: no cgroup v1 memory controller at \(mount)")
            return nil
        }
        let group = mount + (own == "/" ? "" : own) + "/gc-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(group, 0o755) == 0 else {
            print("skipped: cannot make \(group): errno \(errno)")
            return nil
        }
        guard
            (try? "\(limit)".write(toFile: group + "/memory.limit_in_bytes", atomically: false, encoding: .utf8))
                != nil
        else {
            rmdir(group)
            print("skipped: cannot set the limit of \(group)")
            return nil
        }
        return group
    }

    static func removeGroup(_ group: String) {
        for _ in 0..<50 {
            if rmdir(group) == 0 { return }
            usleep(20_000)
        }
        Issue.record("could not remove \(group): errno \(errno)")
    }

    /// A default monitor in a child inside a 64 MiB group finds the group's
    /// memory.limit_in_bytes on its own, and arms its pressure levels; a
    /// heap share of 50 % makes the GC heap limit 32 MiB; filling the GC
    /// heap until the cgroup budget is at 80 % raises the level, with the
    /// cgroup budget dominant.
    @Test func aDefaultMonitorFindsTheGroupsLimit() async throws {
        let limit = 64 << 20
        guard let group = Self.makeGroup(limit: limit) else { return }
        defer { Self.removeGroup(group) }
        let shared = try await PressureChild.run(["limits", "--join-cgroup", group, "--heap-share-percent", "50"])
        #expect(shared.succeeded, "\(shared)")
        #expect(shared.result["cgroupSource"] as? String == group + "/memory.limit_in_bytes")
        #expect(shared.int("cgroupLimitBytes") == limit)
        #expect(shared.result["systemSource"] as? String == group + "/memory.limit_in_bytes")
        #expect(shared.int("heapLimitBytes") == limit / 2)
        #expect((shared.result["notices"] as? String)?.contains(group + "/memory.pressure_level") == true)

        let filled = try await PressureChild.run(["limits", "--join-cgroup", group, "--fill-percent", "80"])
        #expect(filled.succeeded, "\(filled)")
        #expect(filled.result["dominant"] as? String == "cgroup", "\(filled.result)")
        #expect(filled.result["level"] as? String != "normal", "\(filled.result)")
        #expect(filled.int("utilizationPercent") >= 80)
    }

    /// The same child outside any limited group, with RLIMIT_DATA at 64 GiB:
    /// the resource limit is found (and no cgroup limit is invented).
    @Test func resourceLimitsAreFound() async throws {
        let outcome = try await PressureChild.run(["limits", "--rlimit-data-mb", "65536"])
        #expect(outcome.succeeded, "\(outcome)")
        #expect(outcome.result["resourceSource"] as? String == "RLIMIT_DATA")
        #expect(outcome.int("resourceLimitBytes") == 64 << 30)
    }

    /// A kernel pressure notice in a real group: a child reads a file larger
    /// than its 64 MiB group through the page cache until the kernel's
    /// reclaim stalls it and a PSI trigger (on the child's own cgroup v2
    /// group, made beside the v1 group where the unified hierarchy is
    /// mounted) fires; the level rises on the notice. The child is the
    /// notice benchmark (`pressure-bench notice`), run for one event.
    @Test func aKernelStallNoticeRaisesTheLevel() async throws {
        guard access("/proc/pressure/memory", R_OK) == 0 else {
            print("skipped: no /proc/pressure/memory (kernel without PSI)")
            return
        }
        guard let group = Self.makeGroup(limit: 64 << 20) else { return }
        defer { Self.removeGroup(group) }
        let unified = "/sys/fs/cgroup/unified"
        var arguments = ["notice", "--join-cgroup", group, "--events", "1", "--seconds", "20", "--file-mb", "128"]
        var unifiedGroup: String?
        if access(unified + "/cgroup.procs", W_OK) == 0 {
            let own =
                (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) } ?? "/"
            let candidate =
                unified + (own == "/" ? "" : own) + "/gc-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            if mkdir(candidate, 0o755) == 0 {
                unifiedGroup = candidate
                arguments += ["--join-cgroup2", candidate]
            }
        }
        defer { if let unifiedGroup { Self.removeGroup(unifiedGroup) } }
        let outcome = try await ChildProcess.run("pressure-bench", arguments)
        #expect(outcome.succeeded, "no level change on a kernel notice within 20 s: \(outcome)")
        #expect(outcome.int("changes") >= 1)
        if outcome.int("stallChanges") < 1 {
            print("note: the level rose on v1 memory.pressure_level, not on PSI, in this run")
        }
    }
}
