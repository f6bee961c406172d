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

    /// Installs the hook that vacuums after every collection (at the end of
    /// init, for a policy that wants it).
    ///
    /// The hook tries the table's lock: if another thread holds it, the
    /// run is busy, and the pass goes on with the other hooks and tries
    /// again after them (see ``PostGCHook/runAll(onHookThread:)``); so a
    /// table held busy stalls no other table's vacuum and no other hook.
    func installVacuumHook() throws(GCError) {
        let installed = try PostGCHook(group: .vacuum) { [weak self] event, mayWait in
            guard event.isLatest, let self else { return .done }
            return self.runVacuum(waiting: mayWait) ? .done : .busy
        }
        hook.withLock { $0 = installed }
    }

    /// Vacuums, then shrinks the storage if it is too large.
    ///
    /// It shrinks for the recent peak (the automatic vacuums), or for the
    /// entries live now (`shrinkingNow`: an explicit vacuum); it does nothing
    /// unless the sweep found dead entries or the storage is too large.
    ///
    /// Without `waiting`, returns false at once, having done nothing, if
    /// another thread holds the table's lock.
    @discardableResult
    func runVacuum(shrinkingNow: Bool = false, waiting: Bool = true) -> Bool {
        var pending: DeadHalves? = nil
        let ran: Void? = mutate(waiting: waiting) { state in
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
        return ran != nil
    }

    /// Vacuums that found the table's lock held through a whole pass of
    /// post-GC hooks, retries included, and were left for the next
    /// collection (``Statistics/vacuumsPostponed``, read without the table's
    /// lock: also a test hook).
    package var vacuumsPostponed: Int { hook.withLock { $0?.postponedRunCount ?? 0 } }

    /// Runs `body` holding the table's lock, as a long equality closure
    /// would: a test hook, for the tests of busy tables.
    package func withLockHeld<R>(_ body: () -> R) -> R {
        enterCollector()
        return state.withLock { _ in body() }
    }
}

extension GCWeakTable.VacuumPolicy {
    /// What the policy makes a table do: decided here alone.
    struct Behaviour {
        /// A post-GC hook vacuums after every collection.
        var vacuumsAfterEveryCollection: Bool
        /// The first insert after a collection that found dead entries
        /// vacuums (whichever comes first of it and the hook).
        var vacuumsAtInsert: Bool
        /// Growth drops dead entries first (else it carries them, and sizes
        /// for them too).
        var dropsDeadEntriesWhenGrowing: Bool
        /// A table about to grow past a sixteenth of the heap with no
        /// collection since its last resize collects and vacuums first.
        var collectsBeforeGrowing: Bool
    }

    var behaviour: Behaviour {
        switch self {
        case .eager:
            Behaviour(
                vacuumsAfterEveryCollection: true, vacuumsAtInsert: true, dropsDeadEntriesWhenGrowing: true,
                collectsBeforeGrowing: true)
        case .lazyOnly:
            Behaviour(
                vacuumsAfterEveryCollection: false, vacuumsAtInsert: false, dropsDeadEntriesWhenGrowing: false,
                collectsBeforeGrowing: false)
        }
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
