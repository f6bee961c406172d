extension GCWeakTable {
    /// Vacuums now.
    ///
    /// Every entry the collector found dead is removed, its strong half
    /// handed to `onDeadEntry` on the calling thread (outside the lock), and
    /// the storage shrinks if live entries fell below a quarter of it.
    ///
    /// The table does this after every collection on its own (a post-GC
    /// hook); call it to drop dead entries, and what their strong halves
    /// hold, before that vacuum runs.
    public func vacuum() {
        enterCollector()
        runVacuum(shrinkingNow: true)
    }

    /// The eager hook's work, on the finalizer thread or at
    /// GC.runFinalizers(): nothing unless the sweep found dead entries.
    func vacuumAfterCollection() {
        runVacuum()
    }

    /// Vacuums, then shrinks the storage if it is too large: for the recent
    /// peak (the automatic vacuums), or for the entries live now
    /// (`shrinkingNow`: an explicit vacuum).
    func runVacuum(shrinkingNow: Bool = false) {
        var pending: DeadHalves? = nil
        mutate { state in
            // A collection since the last insert starts a new peak window.
            state.startPeakWindowIfNeeded()
            let wantsShrink = { (state: borrowing WeakTableState) in
                shrinkingNow ? state.wantsShrinkNow : state.wantsShrink
            }
            guard state.deadCount > 0 || wantsShrink(state) else { return }
            _ = state.vacuumDeadEntries(pending: &pending)
            if wantsShrink(state) {
                // A failed shrink leaves the table as it is; the next vacuum
                // tries again. Its time counts as vacuum time.
                let start = monotonicNanoseconds()
                try? state.rehash(to: shrinkingNow ? state.capacityForLiveEntries : state.fittingCapacity)
                let elapsed = monotonicNanoseconds() - start
                state.lastVacuumNanoseconds += elapsed
                state.vacuumNanoseconds += elapsed
            }
        }
        deliver(pending)
    }
}

extension GCWeakTable {
    /// Removes every entry, and hands the strong half of each, dead or live,
    /// to the dead-entry handler (the registry's deinit: every resource it
    /// still holds is closed, exactly once).
    func removeAllDeliveringLiveEntries() {
        enterCollector()
        var pending: DeadHalves? = nil
        mutate { state in
            _ = state.vacuumDeadEntries(pending: &pending)
            for i in 0..<state.capacity where shim_loadField(state.keyField(i)) > slotDead {
                if let strong = state.weakKeys ? state.valueObject(i) : state.keyObject(i) {
                    DeadHalves.append(strong, to: &pending)
                }
            }
            state.removeAllLive()
        }
        deliver(pending)
    }

    /// Removes the live entry for `key` and returns its value's address (the
    /// caller's frame keeps it alive); nil if there was none.
    func removeValueAddress(forKey key: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        enterCollector()
        let hash = entryHash(key)
        return mutate { $0.remove(key, hash: hash) }
    }

    /// Calls `body` with the address of each live entry's value, under the table's lock.
    ///
    /// No entry can be removed or vacuumed meanwhile. `body` must not use the
    /// table.
    func forEachLiveValueAddress(_ body: (UnsafeMutableRawPointer) -> Void) {
        enterCollector()
        state.withLock { state in
            for i in 0..<state.capacity where shim_loadField(state.keyField(i)) > slotDead {
                if let value = state.valueObject(i) { body(value) }
            }
        }
    }
}

/// Who receives the strong halves of dead entries.
internal enum DeadEntryHandler: Sendable {
    /// Nobody: the table drops them.
    case none
    /// The public `onDeadEntry`: a root each.
    case roots(@Sendable (GCRoot) -> Void)
    /// The raw addresses of one vacuum's strong halves, all at once (none
    /// nil), kept alive for the call only (the foreign-resource registry:
    /// nothing allocated per entry).
    case raw(@Sendable (UnsafeBufferPointer<UnsafeMutableRawPointer?>) -> Void)

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

/// Strong halves of vacuumed entries on their way to the dead-entry handler.
///
/// Their addresses live in one scanned, uncollectable GC block (grown by
/// doubling), so every one stays alive from the vacuum, under the table's
/// lock, to its delivery outside it, without a root or an allocation per
/// entry. Used by one thread at a time; `release()` frees the block.
internal final class DeadHalves {
    private var base: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var capacity: Int
    private(set) var count = 0

    private init?(capacity: Int) {
        guard let raw = libgc_mallocUncollectable(capacity * MemoryLayout<UnsafeMutableRawPointer?>.stride) else {
            return nil
        }
        base = raw.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: capacity)
        self.capacity = capacity
    }

    /// Appends `object` to `halves`, creating the buffer on first use.
    ///
    /// If memory is short the object is dropped from delivery (its entry is
    /// vacuumed all the same; the handler does not hear of it).
    static func append(_ object: UnsafeMutableRawPointer, to halves: inout DeadHalves?) {
        if halves == nil { halves = DeadHalves(capacity: 64) }
        halves?.append(object)
    }

    private func append(_ object: UnsafeMutableRawPointer) {
        if count == capacity {
            let bigger = capacity * 2
            guard let raw = libgc_mallocUncollectable(bigger * MemoryLayout<UnsafeMutableRawPointer?>.stride) else {
                return
            }
            let grown = raw.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: bigger)
            grown.update(from: base, count: count)
            libgc_free(UnsafeMutableRawPointer(base))
            base = grown
            capacity = bigger
        }
        base[count] = object
        count += 1
    }

    /// The addresses, in the order they were vacuumed.
    var objects: some Sequence<UnsafeMutableRawPointer> {
        addresses.lazy.map { $0.unsafelyUnwrapped }
    }

    /// The addresses (none nil), in the order they were vacuumed; valid
    /// until ``release()``.
    var addresses: UnsafeBufferPointer<UnsafeMutableRawPointer?> { UnsafeBufferPointer(start: base, count: count) }

    /// Frees the block; the objects are no longer kept alive by it.
    func release() {
        guard capacity > 0 else { return }
        libgc_free(UnsafeMutableRawPointer(base))
        count = 0
        capacity = 0
    }

    deinit { release() }
}
