import BoehmGC
import Foundation
import Synchronization
import TestSupport
import Testing

/// A foreign-bytes source the tests turn up and down.
final class PressureDial: Sendable {
    private let bytes = Atomic<Int>(0)
    func set(_ value: Int) { bytes.store(value, ordering: .relaxed) }
    var value: Int { bytes.load(ordering: .relaxed) }
}

/// A monitor driven only by `dial` against a 1,000-byte foreign budget: no
/// GC heap, RSS, cgroup, resource-limit or machine budget and no kernel
/// notices, so other tests running in parallel cannot move its level.
func dialMonitor(
    _ dial: PressureDial, interval: Duration? = nil, collectsOnWarning: Bool = false
) throws -> MemoryPressureMonitor {
    try MemoryPressureMonitor(
        .init(
            warningThreshold: 0.70, criticalThreshold: 0.90, hysteresis: 0.05,
            samplingInterval: interval, samplesAfterCollections: false, collectsOnWarning: collectsOnWarning,
            gcHeapBudget: .unwatched, foreignBytes: { dial.value }, foreignLimit: 1000,
            readsResidentSize: false, cgroup: .none, readsResourceLimits: false, readsMachineMemory: false,
            kernelNotices: .none))
}

/// Only the budgets a test names: no cgroup, resource-limit or machine
/// budget, no kernel notices, no thread.
func isolatedConfiguration(
    gcHeapBudget: MemoryPressureMonitor.HeapBudget = .unwatched, foreignBytes: (@Sendable () -> Int)? = nil,
    foreignLimit: Int? = nil, cgroup: MemoryPressureMonitor.CgroupSource = .none,
    kernelNotices: MemoryPressureMonitor.KernelNotices = .none, samplingInterval: Duration? = nil,
    collectsOnWarning: Bool = false
) -> MemoryPressureMonitor.Configuration {
    .init(
        samplingInterval: samplingInterval, samplesAfterCollections: false, collectsOnWarning: collectsOnWarning,
        gcHeapBudget: gcHeapBudget, foreignBytes: foreignBytes, foreignLimit: foreignLimit, readsResidentSize: false,
        cgroup: cgroup, readsResourceLimits: false, readsMachineMemory: false, kernelNotices: kernelNotices)
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

@Suite struct MemoryPressureTests {
    @Test func levelsRiseAtOnceAndFallPastTheHysteresisBand() throws {
        let dial = PressureDial()
        let monitor = try dialMonitor(dial)
        let seen = Locked<[MemoryPressureLevel]>([])
        monitor.addObserver { change in seen.withLock { $0.append(change.current) } }
        let steps: [(Int, MemoryPressureLevel)] = [
            (500, .normal), (710, .warning), (680, .warning), (655, .warning), (640, .normal),
            (950, .critical), (860, .critical), (840, .warning), (960, .critical), (100, .normal),
        ]
        for (bytes, expected) in steps {
            dial.set(bytes)
            let sample = monitor.sample()
            #expect(monitor.level == expected, "at \(bytes) bytes")
            #expect(sample.dominantBudget == .foreign)
            #expect(abs(sample.utilization - Double(bytes) / 1000) < 1e-9)
        }
        #expect(seen.value == [.warning, .normal, .critical, .warning, .critical, .normal])
        #expect(monitor.statistics.levelChanges == 6)
    }

    @Test func noiseAroundAThresholdDoesNotFlap() throws {
        let dial = PressureDial()
        let monitor = try dialMonitor(dial)
        let changes = Counter()
        monitor.addObserver { _ in changes.increment() }
        for step in 0..<200 {
            dial.set(step % 2 == 0 ? 690 : 710)  // ±1 % around the warning threshold
            monitor.sample()
        }
        print("200 samples alternating 69 % / 71 %: \(changes.count) level change(s)")
        #expect(changes.count == 1)
        #expect(monitor.level == .warning)
    }

    @Test func removedObserverIsNotCalled() throws {
        let dial = PressureDial()
        let monitor = try dialMonitor(dial)
        let calls = Counter()
        let id = monitor.addObserver { _ in calls.increment() }
        dial.set(800)
        monitor.sample()
        monitor.removeObserver(id)
        dial.set(0)
        monitor.sample()
        #expect(calls.count == 1)
        #expect(monitor.level == .normal)
    }

    @Test func observerMaySampleWithoutDeadlock() throws {
        let dial = PressureDial()
        let monitor = try dialMonitor(dial)
        let inner = Locked<MemoryPressureSample?>(nil)
        // Holding the monitor in its own observer is a cycle: remove it after.
        let id = monitor.addObserver { [monitor] _ in inner.withLock { $0 = monitor.sample() } }
        defer { monitor.removeObserver(id) }
        dial.set(950)
        let outer = monitor.sample()
        #expect(inner.value?.utilization == outer.utilization)
    }

    @Test func invalidSettingsThrow() {
        let bad: [MemoryPressureMonitor.Configuration] = [
            .init(warningThreshold: 0),
            .init(warningThreshold: 0.9, criticalThreshold: 0.8),
            .init(hysteresis: -0.1),
            .init(warningThreshold: 0.5, hysteresis: 0.5),
            .init(samplingInterval: .zero),
            .init(gcHeapBudget: .bytes(0)),
            .init(foreignLimit: -1),
            .init(residentLimit: 0),
            .init(collectionTimeShare: 0),
            .init(collectionTimeShare: 1.5),
        ]
        for configuration in bad {
            #expect(throws: GCError.self) { try MemoryPressureMonitor(configuration) }
        }
        #expect(throws: GCError.self) { try GC.setMaximumHeapSize(0) }
    }

    @Test func readsCgroupFilesAndTreatsMaxAsNoLimit() throws {
        let tree = try FakeCgroupTree()
        // Terabytes: the free GC heap counted as available (megabytes here)
        // does not move the ratios.
        try tree.write("memory.max", "1099511627776")
        try tree.write("memory.current", "1044535164928")
        try tree.write("memory.stat", "anon 1\nfile 2\ninactive_file 0\n")
        let monitor = try MemoryPressureMonitor(isolatedConfiguration(cgroup: .directory(tree.root)))
        var sample = monitor.latestSample
        #expect(sample.cgroupLimitBytes == 1 << 40)
        #expect(sample.cgroupCurrentBytes == 1_044_535_164_928)
        #expect(sample.cgroupLimit?.source == .cgroupV2Max(directory: tree.root))
        #expect(sample.dominantBudget == .cgroup)
        #expect(monitor.level == .critical)
        // Rewritten in place (same inode), as the kernel's files change.
        try tree.write("memory.max", "max")
        try tree.write("memory.current", "2000000")
        sample = monitor.sample()
        #expect(sample.cgroupLimitBytes == nil)
        #expect(sample.cgroupCurrentBytes == nil, "no usage figure without a limit")
        #expect(sample.dominantBudget == nil)
        #expect(monitor.level == .normal)
    }

    @Test func findsOrSkipsTheProcessCgroup() throws {
        let monitor = try MemoryPressureMonitor(
            .init(samplingInterval: nil, samplesAfterCollections: false, collectsOnWarning: false))
        let sample = monitor.latestSample
        let limits = try MemoryPressureMonitor.systemLimits()
        print(
            "cgroup directory: \(monitor.cgroupDirectory ?? "none"); system limits (tightest first): "
                + limits.map { "\($0)" }.joined(separator: "; ")
                + "; notices: \(monitor.kernelNoticeSources)")
        #expect(sample.cgroupLimit == nil || sample.cgroupCurrentBytes != nil)
        if sample.cgroupLimit == nil && sample.resourceLimit == nil {
            // The machine's memory is the last resort, always readable here.
            let machine = try #require(sample.machineLimit, "no limit at all: /proc/meminfo unread")
            #expect(machine.source == .machine)
            #expect(machine.limitBytes > 1 << 28)
        }
        #expect(sample.systemLimit != nil)
        #expect(limits.first?.utilization == limits.map(\.utilization).max())
        let resident = try #require(sample.residentBytes)
        #expect(resident > 1 << 20 && resident < 1 << 40)
        #expect(sample.gcHeapBytes > 0 && sample.gcInUseBytes <= sample.gcHeapBytes)
    }

    @Test func samplingThreadFollowsTheSourceAndStops() async throws {
        let dial = PressureDial()
        let monitor = try dialMonitor(dial, interval: .milliseconds(5))
        let clock = ContinuousClock()
        // Each change and when the observer (on the sampling thread) saw it.
        let changes = Locked<[(MemoryPressureLevel, ContinuousClock.Instant)]>([])
        monitor.addObserver { change in changes.withLock { $0.append((change.current, clock.now)) } }

        /// Sets the dial and waits until the observer is told of `level`;
        /// returns how long that took. The clock starts before the dial
        /// moves: the sampling thread may see it at once.
        func set(_ bytes: Int, andWaitFor level: MemoryPressureLevel) async throws -> Duration? {
            let start = clock.now
            dial.set(bytes)
            // Generous: the sampling thread is registered with the collector,
            // so it stands still while parallel tests run long collections.
            // The change is looked for once more after the deadline: this
            // task itself may wake only after it (the test pool's threads
            // are busy with other suites).
            while true {
                let late = clock.now - start >= .seconds(30)
                if let seen = changes.value.last(where: { $0.0 == level }), seen.1 >= start {
                    return seen.1 - start
                }
                if late { return nil }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        let up = try #require(try await set(950, andWaitFor: .critical), "never told of critical: \(changes.value)")
        let down = try #require(try await set(100, andWaitFor: .normal), "never told of normal: \(changes.value)")
        print(
            "sampling thread (5 ms): observer told of critical after \(milliseconds(up)) ms, of normal after \(milliseconds(down)) ms"
        )
        #expect(monitor.level == .normal)
        #expect(changes.value.map(\.0) == [.critical, .normal])
        monitor.stop()
        // A sample in progress may still finish; then the count stays put
        // (a running thread would add about ten per 50 ms window).
        var stable = false
        for _ in 0..<40 where !stable {
            let samples = monitor.statistics.samples
            try await Task.sleep(for: .milliseconds(50))
            stable = monitor.statistics.samples == samples
        }
        #expect(stable, "the thread still samples after stop()")
    }

    @Test func collectsBeforeRaisingAndRarelyWhileRaised() throws {
        let dial = PressureDial()
        let monitor = try dialMonitor(dial, collectsOnWarning: true)
        dial.set(800)
        let start = ContinuousClock.now
        monitor.sample()
        #expect(monitor.level == .warning)
        #expect(monitor.statistics.collectionsRequested == 1)
        for _ in 0..<50 { monitor.sample() }
        let elapsed = ContinuousClock.now - start
        let requested = monitor.statistics.collectionsRequested
        // Rechecks while raised are at least 10 ms apart (no thread: 10 ms).
        let bound = 2 + Int(milliseconds(elapsed) / 10)
        print(
            "collect on warning: \(requested) collection(s) over 51 samples in \(milliseconds(elapsed)) ms (bound \(bound))"
        )
        #expect(requested <= bound)
        dial.set(100)
        monitor.sample()
        #expect(monitor.level == .normal)
        #expect(monitor.statistics.collectionsRequested == requested, "falling needs no collection")
    }

    @Test func samplesAfterEveryCollectionUntilStopped() throws {
        let dial = PressureDial()
        var configuration = isolatedConfiguration(foreignBytes: { dial.value }, foreignLimit: 1000)
        configuration.samplesAfterCollections = true
        let monitor = try MemoryPressureMonitor(configuration)
        let before = monitor.statistics.samples
        dial.set(950)
        GC.collect()
        GC.runFinalizers()  // runs every post-GC hook for that collection
        #expect(monitor.statistics.samples > before)
        #expect(monitor.level == .critical, "the post-collection sample did not see the source")
        monitor.stop()
        GC.runFinalizers()  // waits for a hook run already under way
        let stopped = monitor.statistics.samples
        for _ in 0..<3 {
            GC.collect()
            GC.runFinalizers()
        }
        #expect(monitor.statistics.samples == stopped, "the hook still samples after stop()")
    }

    @Test func gcHeapBudgetUsesTheGivenLimit() throws {
        let monitor = try MemoryPressureMonitor(isolatedConfiguration(gcHeapBudget: .bytes(1 << 40)))
        let sample = monitor.sample()
        #expect(sample.gcHeapLimit == 1 << 40)
        #expect(sample.dominantBudget == .gcHeap)
        #expect(sample.utilization == Double(sample.gcInUseBytes) / Double(1 << 40))
        #expect(monitor.level == .normal)
    }

    @Test func sampleAndLevelCost() throws {
        let dial = PressureDial()
        let monitor = try MemoryPressureMonitor(
            .init(
                samplingInterval: nil, samplesAfterCollections: false, collectsOnWarning: false,
                gcHeapBudget: .bytes(1 << 40), foreignBytes: { dial.value }, foreignLimit: 1 << 40,
                residentLimit: 1 << 40))
        let clock = ContinuousClock()
        var costs: [Duration] = []
        for _ in 0..<2000 { costs.append(clock.measure { monitor.sample() }) }
        costs.sort()
        let median = costs[costs.count / 2]
        let p99 = costs[costs.count * 99 / 100]
        var sum = 0
        let loads = 1_000_000
        let levelTime = clock.measure {
            for _ in 0..<loads { sum &+= Int(monitor.level.rawValue) }
        }
        print(
            "one sample (GC heap + foreign + RSS + system limits, cgroup \(monitor.cgroupDirectory ?? "none")), debug build: median \(milliseconds(median) * 1000) µs, p99 \(milliseconds(p99) * 1000) µs; level check \(milliseconds(levelTime) * 1e6 / Double(loads)) ns"
        )
        #expect(sum == 0)
        #expect(median < .microseconds(500))
    }
}
