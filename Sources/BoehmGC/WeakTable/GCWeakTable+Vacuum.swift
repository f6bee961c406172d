internal import CBoehmGC
internal import CGCSupport

extension GCWeakTable {
    /// Vacuums now: every entry the collector found dead is removed, its
    /// strong half handed to `onDeadEntry` (outside the lock), and the
    /// storage shrinks if live entries fell below a quarter of it.
    ///
    /// Eager tables do this after every collection on their own; call it on
    /// a lazy table, or to drop dead entries before an eager vacuum ran.
    public func vacuum() {
        enterCollector()
        runVacuum()
    }

    /// The eager hook's work, on the finalizer thread or at
    /// GC.runFinalizers(): nothing unless the sweep found dead entries.
    func vacuumAfterCollection() {
        runVacuum()
    }

    func runVacuum() {
        var pending: [GCRoot]? = onDeadEntry == nil ? nil : []
        mutate { state in
            guard state.deadCount > 0 || state.wantsShrink else { return }
            _ = state.vacuumDeadEntries(pending: &pending)
            if state.wantsShrink {
                // A failed shrink leaves the table as it is; the next vacuum
                // tries again. Its time counts as vacuum time.
                let start = monotonicNanoseconds()
                try? state.rehash(to: state.fittingCapacity)
                let elapsed = monotonicNanoseconds() - start
                state.lastVacuumNanoseconds += elapsed
                state.vacuumNanoseconds += elapsed
            }
        }
        deliver(pending)
    }
}
