import Synchronization

/// A weak-keyed table of open foreign resources whose vacuum closes the
/// resources that were dropped unclosed.
///
/// Each entry maps a resource's GC object (the weak key) to the resource's
/// record (the strong value: one pointer-free GC object holding the lock,
/// the account and the handle). When a collection finds the key
/// unreachable, the table's sweep marks the entry dead; the vacuum that
/// follows the collection hands the records of the dead entries to the
/// registry, which closes each handle and gives the bytes back. An entry
/// whose handle holds nothing to release yet (a string port's state with
/// its output in its record) holds a placeholder instead of the record,
/// which then goes with its key in the collection that finds it; the vacuum
/// only counts it released. Nothing is registered with libgc per resource, so libgc's
/// 4,096-entry rule (a forced full collection before its finalizer or link
/// table grows) never applies; and releasing a dead entry allocates nothing
/// and takes no process-wide lock (the *lean vacuum*; see
/// <doc:ForeignMemoryAndResources>).
///
/// The registry also lists the open resources (``forEachOpen(_:_:)``), which
/// is how the ports flush every open output port (`Ports.flushAll()`, and
/// at exit, where they also end it), and counts its resources
/// (``resourceStatistics``).
public final class ForeignResourceRegistry: Sendable {
    /// How a registry keeps its entries and when it vacuums: the library's
    /// design, or the seed's (the soak compares them).
    package enum Design: Sendable, Equatable {
        /// A weak-keyed ``GCWeakTable`` (the library's), vacuumed after
        /// every collection (`.eager`, from the collection events) or only
        /// when used (`.lazyOnly`, the old leak).
        case weakTable(GCWeakTable.VacuumPolicy)
        /// The seed's: a libgc disappearing link per resource, vacuumed
        /// from a post-GC hook driven by a resurrecting finalizer
        /// (``PostGCHook/Driver/resurrectingFinalizer``), which walks every
        /// slot.
        case disappearingLinks
    }

    private enum Storage {
        case table(GCWeakTable)
        case links(DisappearingLinkSlots)
    }

    private let storage: Storage
    private let state: RegistryState
    /// The seed's vacuum hook (``Design/disappearingLinks``), set once at the
    /// end of init and cancelled by deinit.
    private let hook = Lock<PostGCHook?>(nil)

    /// Creates a registry whose vacuum runs after every collection.
    ///
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the table's storage
    ///   cannot be allocated.
    public convenience init() throws(GCError) {
        try self.init(vacuum: .eager)
    }

    /// A registry with the given vacuum policy.
    ///
    /// `.lazyOnly` keeps dead entries, and their open handles, until an
    /// explicit vacuum or an insert meets them: the tests and the soak
    /// measure that leak.
    package convenience init(vacuum: GCWeakTable.VacuumPolicy) throws(GCError) {
        try self.init(design: .weakTable(vacuum))
    }

    /// A registry of the given design.
    package init(design: Design) throws(GCError) {
        enterCollector()
        let state = try RegistryState(design: design)
        self.state = state
        switch design {
        case .weakTable(let vacuum):
            storage = .table(
                try GCWeakTable(
                    weakness: .keys, hashing: .identity, vacuum: vacuum, minimumCapacity: 0,
                    deadEntryHandler: .raw { records in state.closeDead(records) }))
        case .disappearingLinks:
            storage = .links(DisappearingLinkSlots())
            let installed = try PostGCHook(driver: .resurrectingFinalizer) { [weak self] _ in self?.vacuum() }
            hook.withLock { $0 = installed }
        }
    }

    /// Resources still registered when the registry goes away (only
    /// possible once every owner of them is gone, since each holds the
    /// registry) are closed here, so no handle is leaked.
    deinit {
        hook.withLock { $0?.cancel() }
        switch storage {
        case .table(let table): table.removeAllDeliveringLiveEntries()
        case .links(let links): links.removeAll { state.closeDead($0) }
        }
        state.freePlaceholders()
    }

    /// Adds the entry of a new resource: its key, weak, and its record, or,
    /// when the handle holds nothing to release yet (nil), a placeholder.
    ///
    /// The key and the record are alive on the caller's stack for the call.
    func register(record: UnsafeMutableRawPointer?, key: UnsafeMutableRawPointer, accounted: Bool) throws(GCError) {
        let value = record ?? state.placeholder(accounted: accounted)
        switch storage {
        case .table(let table): try table.unsafeSetValue(value, forKey: key)
        case .links(let links): try links.register(value, key: key)
        }
        state.opened.add(1, ordering: .relaxed)
    }

    /// Asks the processor for the cache line of `key`'s entry, to come
    /// (a hint, for `register` a few hundred nanoseconds later).
    func prefetchEntry(key: UnsafeMutableRawPointer) {
        if case .table(let table) = storage { table.prefetchSlot(forKey: key) }
    }

    /// Makes the live entry of `key` hold its record from now on; false if
    /// the table refused (the entry keeps its placeholder).
    func hold(record: UnsafeMutableRawPointer, key: UnsafeMutableRawPointer) -> Bool {
        switch storage {
        case .table(let table):
            // The entry exists: the value is replaced in place, nothing grows.
            return (try? table.unsafeSetValue(record, forKey: key)) != nil
        case .links(let links):
            return links.replaceValue(record, forKey: key)
        }
    }

    /// Removes the entry of a resource closed by hand, and counts the close.
    func unregister(key: UnsafeMutableRawPointer) {
        switch storage {
        case .table(let table): _ = table.removeValueAddress(forKey: key)
        case .links(let links): links.remove(key: key)
        }
        state.closedExplicitly.add(1, ordering: .relaxed)
    }

    /// Whether a visit of the open resources is in progress: a record
    /// closed now may have been seen by it, so it is left to the collector
    /// rather than freed.
    var hasVisitors: Bool { state.visitors.load(ordering: .sequentiallyConsistent) != 0 }

    /// Closes the resources of dead entries now.
    ///
    /// The registry does this after every collection on its own; the call
    /// is for a caller that wants the handles closed before that vacuum
    /// runs.
    public func vacuum() {
        switch storage {
        case .table(let table): table.vacuum()
        case .links(let links): links.vacuum { state.closeDead($0) }
        }
    }

    /// Resources registered and not yet closed or vacuumed.
    ///
    /// Those whose object a collection found unreachable count until the
    /// vacuum closes them.
    public var count: Int {
        switch storage {
        case .table(let table):
            let statistics = table.statistics
            return statistics.liveEntries + statistics.deadAwaitingVacuum
        case .links(let links):
            return links.counts.used
        }
    }

    /// The counters of the registry's table (see ``GCWeakTable/Statistics``).
    ///
    /// For the seed's design, those that apply to its slots (capacity, live
    /// and dead entries, vacuums and their time); the others are 0.
    public var tableStatistics: GCWeakTable.Statistics {
        switch storage {
        case .table(let table):
            return table.statistics
        case .links(let links):
            let counts = links.counts
            var statistics = state.emptyTableStatistics.unsafelyUnwrapped
            statistics.capacity = counts.capacity
            statistics.liveEntries = counts.used - counts.dead
            statistics.deadAwaitingVacuum = counts.dead
            statistics.vacuums = counts.vacuums
            statistics.entriesVacuumed = counts.vacuumed
            statistics.vacuumTime = .nanoseconds(Int64(counts.time))
            statistics.lastVacuumTime = .nanoseconds(Int64(counts.last))
            return statistics
        }
    }

    /// The counters of the resources registered here, from the registry's
    /// start: opened, closed by hand, released by the vacuum.
    ///
    /// Each counter is read on its own (relaxed atomics), so counters read
    /// while resources open and close may disagree by a few.
    public var resourceStatistics: ForeignResources.Statistics {
        ForeignResources.Statistics(
            opened: state.opened.load(ordering: .relaxed),
            closedExplicitly: state.closedExplicitly.load(ordering: .relaxed),
            releasedByCollector: state.releasedByCollector.load(ordering: .relaxed))
    }

    /// Calls `body` with the handle of every open registered resource of type `Handle`.
    ///
    /// Each call runs under that resource's lock, one at a time. Resources
    /// registered or closed meanwhile may be missed, and so are resources
    /// abandoned at a fork.
    ///
    /// - Parameters:
    ///   - type: The handle type of the resources to visit; others are
    ///     skipped.
    ///   - body: A closure that uses one handle; it must not close or use
    ///     that resource through its ``ForeignResource``.
    /// - Returns: How many handles `body` was called with.
    /// - Throws: What `body` throws; the visit stops there.
    @discardableResult
    public func forEachOpen<Handle: Sendable>(
        _ type: Handle.Type, _ body: (Handle) throws -> Void
    ) rethrows -> Int {
        try forEachOpenHandle(type) { try body($0.pointee) }
    }

    /// ``forEachOpen(_:_:)`` with the handle in place, for handles that are
    /// not copied (a port's state).
    @discardableResult
    package func forEachOpenHandle<Handle: ~Copyable>(
        _ type: Handle.Type, _ body: (UnsafeMutablePointer<Handle>) throws -> Void
    ) rethrows -> Int {
        enterCollector()
        state.visitors.add(1, ordering: .sequentiallyConsistent)
        defer { state.visitors.subtract(1, ordering: .sequentiallyConsistent) }
        // The records, in a scanned GC block the visit roots: a record
        // closed and let go meanwhile stays valid until the visit ends.
        var capacity = self.count + 16
        while true {
            guard let address = try? GC.unsafeAllocate(byteCount: capacity * 8) else {
                preconditionFailure("no memory for the list of \(capacity) open resources to visit")
            }
            let block = GCHandle(rooting: address)
            let records = block.unsafeAddress.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            var count = 0
            let visit = { (record: UnsafeMutableRawPointer) in
                if count < capacity { records[count] = record }
                count += 1
            }
            switch storage {
            case .table(let table): table.forEachLiveValueAddress(visit)
            case .links(let links): links.forEachLiveValue(visit)
            }
            guard count <= capacity else {
                capacity = count + 16
                continue
            }
            let wanted = ObjectIdentifier(Handle.self)
            var visited = 0
            for i in 0..<count {
                guard let address = records[i], !state.isPlaceholder(address) else { continue }
                let record = ForeignResourceRecord(address)
                guard record.handleType == wanted else { continue }
                let handle = record.handle.assumingMemoryBound(to: Handle.self)
                if case .success = try record.withLockIfOpen({ try body(handle) }) { visited += 1 }
            }
            shim_keepAlive(block.unsafeAddress)
            return visited
        }
    }
}

/// What the registry's vacuum needs besides the table: the counters, the
/// visits in progress and the placeholders.
///
/// `@unchecked Sendable`: the placeholders' addresses are set in init and
/// never change.
private final class RegistryState: @unchecked Sendable {
    let opened = Atomic<Int>(0)
    let closedExplicitly = Atomic<Int>(0)
    let releasedByCollector = Atomic<Int>(0)
    /// ``ForeignResourceRegistry/forEachOpenHandle(_:_:)`` calls in progress.
    let visitors = Atomic<Int>(0)
    /// The values of entries whose record is not held (one for resources
    /// that report to ForeignMemory, one for the others): uncollectable GC
    /// objects of their own, so a table only ever holds GC objects.
    private let placeholders: (accounted: UnsafeMutableRawPointer, unaccounted: UnsafeMutableRawPointer)

    /// The counters of an empty table: what the seed's design fills in, so
    /// that counters it has no use for stay 0 (nil for a weak table).
    let emptyTableStatistics: GCWeakTable.Statistics?

    init(design: ForeignResourceRegistry.Design) throws(GCError) {
        guard let accounted = libgc_mallocUncollectable(8) else { throw .outOfMemory(byteCount: 8) }
        guard let unaccounted = libgc_mallocUncollectable(8) else {
            libgc_free(accounted)
            throw .outOfMemory(byteCount: 8)
        }
        placeholders = (accounted, unaccounted)
        var empty = GCWeakTable.Statistics?.none
        if design == .disappearingLinks {
            do {
                empty = try GCWeakTable(weakness: .keys).statistics
            } catch {
                libgc_free(accounted)
                libgc_free(unaccounted)
                throw error
            }
        }
        emptyTableStatistics = empty
    }

    func placeholder(accounted: Bool) -> UnsafeMutableRawPointer {
        accounted ? placeholders.accounted : placeholders.unaccounted
    }

    @inline(__always)
    func isPlaceholder(_ value: UnsafeMutableRawPointer) -> Bool {
        value == placeholders.accounted || value == placeholders.unaccounted
    }

    /// Once the table is empty (the registry's deinit).
    func freePlaceholders() {
        libgc_free(placeholders.accounted)
        libgc_free(placeholders.unaccounted)
    }

    /// Closes the resources of the entries a vacuum found dead, in order,
    /// and gives their bytes back: those of an earlier collection window
    /// (all, but for the registry's deinit) in one call.
    ///
    /// The records were last used before the collection, and a collection's
    /// worth of them is out of the cache: each is prefetched a few entries
    /// ahead (its header and handle), so the misses overlap instead of
    /// coming one after another. A placeholder is a resource with nothing
    /// to release, whose record went with its key: it is only counted.
    func closeDead(_ records: UnsafeBufferPointer<UnsafeMutableRawPointer?>) {
        let window = shim_collectionEpoch()
        var released = 0
        var earlier = (byteCount: 0, objects: 0)
        let count = records.count
        for i in 0..<count {
            if i + 4 < count, let ahead = records[i + 4], !isPlaceholder(ahead) {
                shim_prefetch(ahead)
                shim_prefetch(ahead + 64)
            }
            let value = records[i].unsafelyUnwrapped
            if value == placeholders.accounted {
                released += 1
                earlier.objects += 1
                continue
            }
            if value == placeholders.unaccounted {
                released += 1
                continue
            }
            guard let given = ForeignResourceRecord(value).close() else { continue }
            released += 1
            if given.window == window {
                ForeignResourceRecord.giveBack(given)
            } else {
                // Added in an earlier window: off the live counts only, so
                // the whole batch goes back in one call.
                earlier.byteCount += given.byteCount
                earlier.objects += given.objects
            }
        }
        if earlier.byteCount > 0 || earlier.objects > 0 {
            do {
                try ForeignMemory.remove(byteCount: earlier.byteCount, objects: earlier.objects)
            } catch {
                assertionFailure("foreign accounting out of balance: \(error)")
            }
        }
        releasedByCollector.add(released, ordering: .relaxed)
        ForeignResourceCounters.shared.releasedByCollector.add(released, ordering: .relaxed)
    }
}
