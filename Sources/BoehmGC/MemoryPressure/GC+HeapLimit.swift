import Synchronization

extension GC {
    /// The GC heap limit in bytes now, or nil when the heap may grow without bound.
    ///
    /// It starts as ``Configuration/maximumHeapSize``, or the
    /// ``Configuration/maximumHeapShare`` of the container's limit when that
    /// is smaller, and changes with ``setMaximumHeapSize(_:)``. Reading it
    /// starts the collector. libgc has a setter but no getter, so this is
    /// the value last set.
    public static var maximumHeapSize: Int? {
        enterCollector()
        return HeapLimit.current
    }

    /// Changes the GC heap limit while the program runs.
    ///
    /// The heap stops growing past `bytes`; an allocation that does not fit
    /// after a collection throws ``GCError/outOfMemory(byteCount:)``. A limit
    /// below the current heap size does not shrink the heap: it only stops
    /// further growth. Pass nil to remove the limit.
    ///
    /// - Parameter bytes: The new limit in bytes, in `1...2^47`, or nil for
    ///   none.
    /// - Throws: ``GCError/invalidArgument(_:)`` for zero, a negative size
    ///   or one above 2^47 bytes (the x86-64 user address space).
    ///
    /// The corresponding C function is `GC_set_max_heap_size`.
    public static func setMaximumHeapSize(_ bytes: Int?) throws(GCError) {
        if let bytes, bytes <= 0 || bytes > GC.largestHeapSize {
            throw .invalidArgument("maximumHeapSize must be in 1...2^47, got \(bytes)")
        }
        enterCollector()
        HeapLimit.set(bytes)
    }
}

/// The heap limit as last set, held by ``Runtime``.
///
/// libgc has a setter but no getter for it.
internal final class HeapLimit: Sendable {
    /// 0 means no limit, as in libgc.
    private let stored: Atomic<Int>

    /// The limit the collector started with.
    init(starting configured: Int?) {
        stored = Atomic(configured ?? 0)
    }

    /// The runtime's.
    static var shared: HeapLimit { Runtime.shared.heapLimit }

    /// The limit the collector starts with: ``GC/Configuration/maximumHeapSize``,
    /// or the ``GC/Configuration/maximumHeapShare`` of the container's limit
    /// when that is smaller.
    static func starting(_ configuration: GC.Configuration) -> Int? {
        guard let share = configuration.maximumHeapShare, let container = containerLimit() else {
            return configuration.maximumHeapSize
        }
        // Never below what libgc can start with (it would exit at start).
        let fromShare = min(
            GC.largestHeapSize, max(GC.smallestStartingHeapSize, Int(Double(container.limitBytes) * share)))
        return min(configuration.maximumHeapSize ?? .max, fromShare)
    }

    /// The tightest hard limit on the path up from the process's own
    /// cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`), else the
    /// machine's memory; nil if none can be read.
    static func containerLimit() -> MemoryLimit? {
        let levels = MemoryPressureMonitor.CgroupSource.automatic.resolve().levels
        let cgroups = SystemMemoryReader(
            readsResident: false, levels: levels, readsResourceLimits: false, readsMachineMemory: false)
        let hard = cgroups.readAll(gcFreeBytes: 0, gcInUseBytes: 0).filter(\.source.isHardLimit)
        if let tightest = hard.min(by: { $0.limitBytes < $1.limitBytes }) { return tightest }
        let machine = SystemMemoryReader(
            readsResident: false, levels: [], readsResourceLimits: false, readsMachineMemory: true)
        return machine.readAll(gcFreeBytes: 0, gcInUseBytes: 0).first
    }

    static var current: Int? {
        let value = shared.stored.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    /// When ``collectingOnce(_:)`` last collected (CLOCK_MONOTONIC
    /// nanoseconds).
    private let lastFailureCollection = Atomic<UInt64>(0)

    /// Collects and calls `allocate` again after an allocation failed,
    /// unless this was done less than 20 pauses ago (10 ms at least); nil
    /// then, or if it fails again.
    ///
    /// At the heap limit libgc returns NULL without collecting when little
    /// was allocated since its last collection (`GC_max_retries` is 0; see
    /// `GC_collect_or_expand` in alloc.c): a program that dropped its data
    /// at the limit and allocates again would fail for ever, since a program
    /// that is refused allocates nothing that would make libgc collect. One
    /// collection here finds what was dropped. Rationed like the memory
    /// monitor's rechecks (at most about 5 % of the time in these
    /// collections), and one thread at a time collects: the others fail at
    /// once.
    static func collectingOnce<T>(_ allocate: () -> T?) -> T? {
        let limit = shared
        let now = monotonicNanoseconds()
        let last = limit.lastFailureCollection.load(ordering: .relaxed)
        let lastPause = UInt64(max(0, GC.statistics.lastPause / .nanoseconds(1)))
        guard now &- last >= max(10_000_000, 20 * lastPause),
            limit.lastFailureCollection.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else { return nil }
        GC.collect()
        return allocate()
    }

    static func set(_ bytes: Int?) {
        let value = bytes ?? 0
        libgc_setMaxHeapSizeUnderLock(value)
        shared.stored.store(value, ordering: .releasing)
    }
}
