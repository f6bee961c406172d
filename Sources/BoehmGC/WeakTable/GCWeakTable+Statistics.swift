extension GCWeakTable {
    /// A snapshot of a table's counters.
    ///
    /// Times are wall-clock durations measured on the monotonic clock.
    public struct Statistics: Sendable, Equatable {
        /// Slots in the storage.
        public var capacity: Int
        /// Live entries (as ``GCWeakTable/count``).
        public var liveEntries: Int
        /// Entries the collector found dead that no vacuum removed yet.
        public var deadAwaitingVacuum: Int
        /// Slots freed by removals and vacuums, not yet reused or rehashed.
        public var tombstones: Int
        /// Bytes of GC memory the storage takes: 16 per slot, plus 8 per
        /// slot for the stored hashes of a content-hashed table.
        public var storageBytes: Int
        /// Vacuums that removed at least one dead entry.
        public var vacuums: Int
        /// Dead entries removed, by vacuums, rehashes and probing inserts.
        public var entriesVacuumed: Int
        /// Time spent in vacuums, in total.
        public var vacuumTime: Duration
        /// Time the last vacuum took.
        public var lastVacuumTime: Duration
        /// Entries the collector's sweep found dead, in total.
        public var entriesFoundDead: Int
        /// Time the sweep spent on this table, in total (inside collections,
        /// after the world restarts; summed over the threads that share a
        /// large sweep, so it may pass the wall time).
        public var sweepTime: Duration
        /// Storage reallocations (growth, shrinking, tombstone cleanup).
        public var resizes: Int
        /// Collections the table ran before growing (an eager table whose
        /// storage would pass a sixteenth of the GC heap with no collection
        /// since its last resize collects and vacuums first).
        public var collectionsBeforeGrowing: Int
        /// Vacuums after a collection left for the next one: another thread
        /// held the table's lock (a long equality closure, say) through
        /// every retry of the post-GC hook pass.
        public var vacuumsPostponed: Int

        /// Every counter zero (a table that does not exist yet).
        package static var none: Statistics {
            Statistics(
                capacity: 0, liveEntries: 0, deadAwaitingVacuum: 0, tombstones: 0, storageBytes: 0, vacuums: 0,
                entriesVacuumed: 0, vacuumTime: .zero, lastVacuumTime: .zero, entriesFoundDead: 0, sweepTime: .zero,
                resizes: 0, collectionsBeforeGrowing: 0, vacuumsPostponed: 0)
        }
    }

    /// The table's counters now.
    public var statistics: Statistics {
        enterCollector()
        return afterSweepWindow { statisticsNow() }
    }

    private func statisticsNow() -> Statistics {
        let postponed = vacuumsPostponed
        return state.withLock { state in
            Statistics(
                capacity: state.capacity,
                liveEntries: state.liveCount,
                deadAwaitingVacuum: state.deadCount,
                tombstones: state.tombstones,
                storageBytes: state.storageBytes,
                vacuums: state.vacuums,
                entriesVacuumed: state.entriesVacuumed,
                vacuumTime: .nanoseconds(Int64(state.vacuumNanoseconds)),
                lastVacuumTime: .nanoseconds(Int64(state.lastVacuumNanoseconds)),
                entriesFoundDead: Int(shim_weakRegionDeadTotal(state.region)),
                sweepTime: .nanoseconds(Int64(shim_weakRegionSweepNanoseconds(state.region))),
                resizes: state.resizes, collectionsBeforeGrowing: state.collectionsBeforeGrowing,
                vacuumsPostponed: postponed)
        }
    }
}

extension GCWeakTable {
    /// Sweep windows opened so far in this process: collections whose weak
    /// sweep ran after the world restarted (a test hook: the window tests
    /// check that their operations overlapped some).
    package static var sweepWindowsOpened: Int { shim_weakSweepWindows() }

    /// Whether the sweep runs inside the stopped world, at mark end.
    ///
    /// As it did before it moved after the restart: a benchmark hook, which
    /// measures both in one run. Process-wide; false by default.
    package static var sweepsInPause: Bool {
        get { shim_weakSweepInPause() }
        set { shim_setWeakSweepInPause(newValue) }
    }
}
