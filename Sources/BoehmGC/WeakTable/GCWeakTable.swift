import Synchronization

/// A hash table from GC objects to GC objects whose entries disappear when
/// their weak side is collected.
///
/// ```swift
/// let table = try GCWeakTable(weakness: .keys)
/// let key = try GCRoot(byteCount: 32)
/// try table.setValue(try GCRoot(byteCount: 64), forKey: key)
/// table[key]                // the value, while `key` is reachable
/// ```
///
/// ## How weak slots work
/// The storage is one scanned GC array of two-word slots. A weak field holds
/// its object complemented, so the conservative marker never sees it; a
/// strong field holds it plainly and is traced. No entry is registered with
/// libgc: once marking ends (world stopped, lock held) the collector's event
/// callback walks every table and marks dead each entry whose weak object was
/// not marked. This is the semantics of a *short* disappearing link: the
/// entry goes as soon as its weak object is unreachable, before that
/// object's finalizer runs, even if the finalizer resurrects it. The cost is
/// O(capacity of all tables) per collection and nothing per insert; a libgc
/// disappearing link per entry would force a full collection every ~4,096
/// registrations under churn. In generational mode a partial collection tests
/// only the slots written since the last collection (the table's young log):
/// an older weak object stays marked until a full collection.
///
/// ## Vacuum
/// The collector never drops the strong half of a dead entry (the value of a
/// weak-key table, the key of a weak-value table): the *vacuum* does, after
/// handing it to `onDeadEntry`. A ``PostGCHook`` vacuums after every
/// collection, so dead entries and their strong halves go one collection
/// after their weak half; the first insert after a collection that found
/// dead entries vacuums too, whichever comes first. Capacity grows above
/// 80% occupancy (tombstones and dead entries included; the table vacuums
/// before it sizes) and shrinks below 25% after a vacuum, never below
/// `minimumCapacity` or ``reserveCapacity(_:)``. A table about to grow past
/// a sixteenth of the GC heap (and past 64 Ki slots) with no collection since
/// its last resize collects and vacuums first, so on a big heap dead entries cannot pile up
/// between the collector's own collections.
///
/// ## No ephemerons
/// libgc 8.2.2 has no ephemerons: in a weak-key table, a value that
/// references its own key (directly or through other objects) keeps the key
/// reachable from the table's strong half, so that entry is never removed.
/// Break such cycles yourself (for example store the back-reference in a
/// second, weak-value table).
///
/// ## Threads
/// All operations are safe from any thread; each table has one lock, and
/// identity lookups take none (a sequence lock validates them). The
/// collector's sweep never takes it. Content hashing closures must not call
/// back into the same table (hash and equality run under the lock; such a
/// call traps with a message naming the rule); `onDeadEntry` runs outside
/// it and may use the table.
///
/// See <doc:WeakTables>.
public final class GCWeakTable: Sendable {
    /// Which side of an entry is weak.
    public enum Weakness: Sendable, Equatable {
        /// The entry goes when its key is collected; the value is held
        /// strongly until then.
        case keys
        /// The entry goes when its value is collected; the key is held
        /// strongly until then.
        case values
        /// The entry goes when either is collected.
        case keysAndValues
    }

    /// When dead entries are removed.
    ///
    /// Only `.eager` is offered to users; `.lazyOnly` is the leak that tables
    /// without a vacuum after each collection have, which the tests and the
    /// soak measure.
    package enum VacuumPolicy: Sendable, Equatable {
        /// After every collection, through a post-GC hook (the default).
        case eager
        /// Only when probed by an insert, on traversal, or on an explicit ``GCWeakTable/vacuum()``.
        ///
        /// Growth keeps dead entries and sizes for them, and the table never
        /// shrinks on its own.
        case lazyOnly
    }

    /// How keys are hashed and compared.
    public struct Hashing: Sendable {
        let hash: (@Sendable (UnsafeRawPointer) -> Int)?
        let equals: (@Sendable (UnsafeRawPointer, UnsafeRawPointer) -> Bool)?

        /// By object identity (the address), the default.
        ///
        /// Identity lookups take no lock.
        public static var identity: Hashing { Hashing(hash: nil, equals: nil) }

        /// By content, with the given functions of the key object's address.
        ///
        /// The hash is computed once per insert and stored; it must come
        /// from content that never changes while the key is in a table.
        /// Both may run under the table's lock, so they must not use the
        /// table: a call back into it ends the process with a message that
        /// names this rule, in release builds too (it would otherwise wait
        /// for itself for ever).
        ///
        /// - Parameters:
        ///   - hash: The hash of the key object at the given address.
        ///   - equals: Whether the key objects at the two addresses are equal.
        /// - Returns: The hashing to pass to
        ///   ``GCWeakTable/init(weakness:hashing:minimumCapacity:onDeadEntry:)``.
        public static func content(
            hash: @escaping @Sendable (UnsafeRawPointer) -> Int,
            equals: @escaping @Sendable (UnsafeRawPointer, UnsafeRawPointer) -> Bool
        ) -> Hashing {
            Hashing(hash: hash, equals: equals)
        }
    }

    /// The most entries a capacity can be asked for, 2^48.
    ///
    /// Far beyond any memory, and small enough that the storage size never
    /// overflows.
    public static let maximumCapacity = 1 << 48

    /// The entry kind of this table.
    public let weakness: Weakness
    /// Which sides are weak (from `weakness`, once).
    let weakKeys: Bool
    let weakValues: Bool
    /// When dead entries are removed.
    package let vacuumPolicy: VacuumPolicy

    let state: Lock<WeakTableState>
    /// A sequence lock over the storage for lock-free lookups (identity hashing only).
    ///
    /// Odd while a holder of `state` changes slots or storage.
    /// `readWords`/`readShift` mirror the storage for readers.
    let version = Atomic<UInt>(0)
    let readWords = Atomic<UInt>(0)
    let readShift = Atomic<UInt>(0)
    let lockFreeLookups: Bool
    let deadEntryHandler: DeadEntryHandler
    /// The message of the trap that ends a closure's call back into its own
    /// table (see ``Hashing``).
    static let reentryRule: StaticString = """
        GCWeakTable: a hash, equality or match closure used its own table; the closures run under the table's \
        lock, so the call would wait for itself for ever. Give them what they need before the call.
        """
    /// The eager hook, set once at the end of init and cancelled by deinit.
    let hook = Lock<PostGCHook?>(nil)

    /// Creates an empty table whose vacuum runs after every collection.
    ///
    /// - Parameters:
    ///   - weakness: Which side of each entry is weak.
    ///   - hashing: Identity (default) or content hashing of keys.
    ///   - minimumCapacity: Entries the table holds without growing, in
    ///     `0...2^48`; it never shrinks below that.
    ///   - onDeadEntry: Receives the strong half of each entry whose weak
    ///     half died (the value for `.keys`, the key for `.values`; never
    ///     called for `.keysAndValues`), from the vacuum (or from an insert
    ///     that met the dead entry while probing), outside every lock, on
    ///     the thread that vacuumed; it may allocate and use the table. Not
    ///     called for entries removed by ``removeValue(forKey:)``, replaced,
    ///     or dropped by ``removeAll()`` while alive.
    /// - Throws: ``GCError/outOfMemory(byteCount:)``;
    ///   ``GCError/invalidArgument(_:)`` for a `minimumCapacity` outside
    ///   `0...2^48`.
    public convenience init(
        weakness: Weakness, hashing: Hashing = .identity, minimumCapacity: Int = 0,
        onDeadEntry: (@Sendable (GCRoot) -> Void)? = nil
    ) throws(GCError) {
        try self.init(
            weakness: weakness, hashing: hashing, vacuum: .eager, minimumCapacity: minimumCapacity,
            onDeadEntry: onDeadEntry)
    }

    /// A table with the given vacuum policy.
    ///
    /// For the tests and benchmarks, which measure `.lazyOnly`'s leak.
    package convenience init(
        weakness: Weakness, hashing: Hashing = .identity, vacuum: VacuumPolicy,
        minimumCapacity: Int = 0, onDeadEntry: (@Sendable (GCRoot) -> Void)? = nil
    ) throws(GCError) {
        try self.init(
            weakness: weakness, hashing: hashing, vacuum: vacuum, minimumCapacity: minimumCapacity,
            deadEntryHandler: onDeadEntry.map { .roots($0) } ?? .none)
    }

    /// The designated initialiser: `deadEntryHandler` may take raw addresses
    /// (the registry of foreign resources: no root per dead entry).
    internal init(
        weakness: Weakness, hashing: Hashing, vacuum: VacuumPolicy, minimumCapacity: Int,
        deadEntryHandler: DeadEntryHandler
    ) throws(GCError) {
        guard (0...GCWeakTable.maximumCapacity).contains(minimumCapacity) else {
            throw .invalidArgument("minimumCapacity must be in 0...2^48, got \(minimumCapacity)")
        }
        enterCollector()
        let weakKeys = weakness != .values
        let weakValues = weakness != .keys
        guard let region = shim_weakRegionCreate(flags: shim_weakFlags(keys: weakKeys, values: weakValues)) else {
            throw .outOfMemory(byteCount: 256)
        }
        let initial: WeakTableState
        do {
            initial = try WeakTableState(
                region: region, weakKeys: weakKeys, weakValues: weakValues, hashing: hashing,
                keepsDeadEntries: !deadEntryHandler.isNone && weakness != .keysAndValues,
                minimumCapacity: minimumCapacity)
        } catch {
            shim_weakRegionDestroy(region)
            throw error
        }
        self.weakness = weakness
        self.weakKeys = weakKeys
        self.weakValues = weakValues
        self.vacuumPolicy = vacuum
        self.deadEntryHandler = deadEntryHandler
        self.readWords.store(UInt(bitPattern: initial.words), ordering: .relaxed)
        self.readShift.store(initial.shift, ordering: .relaxed)
        self.lockFreeLookups = hashing.hash == nil
        self.state = Lock(initial, reentryRule: GCWeakTable.reentryRule)
        if vacuum == .eager {
            let installed = try PostGCHook { [weak self] event in
                guard event.isLatest, let self else { return }
                self.vacuumAfterCollection()
            }
            hook.withLock { $0 = installed }
        }
    }

    deinit {
        hook.withLock { $0?.cancel() }
        state.withLock { shim_weakRegionDestroy($0.region) }
    }

    // MARK: Safe API

    /// The value for `key`, held by a ``GCHandle``.
    ///
    /// The safe lookup without a Swift object or an atomic operation (see
    /// ``GCHandle``). Turn the handle into a ``GCRoot`` to share the value.
    ///
    /// - Parameter key: The key object.
    /// - Returns: A handle to the value, or nil if there is no live entry
    ///   for `key`.
    public func handle(forKey key: GCRoot) -> GCHandle? {
        enterCollector()
        guard let value = lookup(key.unsafeAddress) else { return nil }
        let handle = GCHandle(rooting: value)
        withExtendedLifetime(key) {}
        return handle
    }

    /// The value for a key held by a handle.
    ///
    /// See ``handle(forKey:)-(GCRoot)``.
    ///
    /// - Parameter key: A handle to the key object.
    /// - Returns: A handle to the value, or nil if there is no live entry
    ///   for the key.
    public func handle(forKey key: borrowing GCHandle) -> GCHandle? {
        enterCollector()
        guard let value = lookup(key.unsafeAddress) else { return nil }
        return GCHandle(rooting: value)
    }

    /// The value for `key`, rooted, or nil if there is no live entry.
    ///
    /// Each hit makes a new ``GCRoot`` (a Swift object); in a hot loop,
    /// ``handle(forKey:)-(GCRoot)`` costs less.
    ///
    /// - Parameter key: The key object.
    public subscript(key: GCRoot) -> GCRoot? {
        enterCollector()
        guard let value = lookup(key.unsafeAddress) else { return nil }
        let root = GCRoot(rooting: value)
        withExtendedLifetime(key) {}
        return root
    }

    /// Inserts an entry, or replaces the live entry for `key`.
    ///
    /// With content hashing, replacing an entry whose key is an equal but
    /// different object stores `key` in it too: an entry lives as long as the
    /// key it was last set with (for weak keys), whichever equal key was
    /// used before.
    ///
    /// - Parameters:
    ///   - value: The value object.
    ///   - key: The key object.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the table must grow
    ///   and cannot; the table is unchanged.
    public func setValue(_ value: GCRoot, forKey key: GCRoot) throws(GCError) {
        try unsafeSetValue(value.unsafeAddress, forKey: key.unsafeAddress)
        withExtendedLifetime((key, value)) {}
    }

    /// Removes the live entry for `key`.
    ///
    /// `onDeadEntry` is not called.
    ///
    /// - Parameter key: The key object.
    /// - Returns: The entry's value, rooted, or nil if there was no live
    ///   entry.
    @discardableResult
    public func removeValue(forKey key: GCRoot) -> GCRoot? {
        enterCollector()
        let value = mutate { $0.remove(key.unsafeAddress) }
        withExtendedLifetime(key) {}
        guard let value else { return nil }
        return GCRoot(rooting: value)
    }

    /// Whether there is a live entry for `key`.
    ///
    /// - Parameter key: The key object.
    /// - Returns: Whether a live entry for `key` exists.
    public func contains(_ key: GCRoot) -> Bool {
        let found = unsafeContains(key.unsafeAddress)
        withExtendedLifetime(key) {}
        return found
    }

    /// The number of live entries.
    ///
    /// Live entries are those whose weak side was not found dead by a
    /// collection: an entry whose weak side is unreachable still counts
    /// until the next collection.
    public var count: Int {
        enterCollector()
        return state.withLock { $0.liveCount }
    }

    /// Whether there are no live entries.
    public var isEmpty: Bool { count == 0 }

    /// Calls `body` with each live entry, rooted.
    ///
    /// Iterates a snapshot: under the lock, dead entries are vacuumed and the
    /// live ones rooted; `body` then runs outside the lock. It may use the
    /// table (and other threads may too): changes made during the iteration
    /// are not seen by it, and an entry removed or dead since the snapshot is
    /// still yielded (the snapshot keeps both halves alive until `forEach`
    /// returns). Never yields an entry that was dead when it was called.
    ///
    /// - Parameter body: Called with each entry's key and value.
    /// - Throws: What `body` throws; the iteration stops there.
    public func forEach(_ body: (GCRoot, GCRoot) throws -> Void) rethrows {
        enterCollector()
        var pending: DeadHalves? = nil
        let snapshot: [(GCRoot, GCRoot)] = mutate { state in
            _ = state.vacuumDeadEntries(pending: &pending)
            var entries: [(GCRoot, GCRoot)] = []
            entries.reserveCapacity(state.liveCount)
            for i in 0..<state.capacity where shim_loadField(state.keyField(i)) > slotDead {
                guard let key = state.keyObject(i), let value = state.valueObject(i) else { continue }
                entries.append(
                    (
                        GCRoot(rooting: key),
                        GCRoot(rooting: value)
                    ))
            }
            return entries
        }
        deliver(pending)
        for (key, value) in snapshot { try body(key, value) }
    }

    /// Removes every entry.
    ///
    /// Dead entries still awaiting vacuum go to `onDeadEntry` first; live
    /// ones are dropped without a call. The capacity returns to its floor.
    public func removeAll() {
        enterCollector()
        var pending: DeadHalves? = nil
        mutate { state in
            state.removeAllLive()
            _ = state.vacuumDeadEntries(pending: &pending)
            if state.capacity > state.floorCapacity {
                // A failed shrink leaves the (empty) storage as it is.
                try? state.rehash(to: state.floorCapacity, carryDead: true)
            }
        }
        deliver(pending)
    }

    /// Makes room for `minimumCount` entries without growing, and keeps the
    /// capacity from shrinking below that.
    ///
    /// - Parameter minimumCount: Entries to make room for, in `0...2^48`.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` (the table is
    ///   unchanged); ``GCError/invalidArgument(_:)`` for a count outside
    ///   `0...2^48`.
    public func reserveCapacity(_ minimumCount: Int) throws(GCError) {
        guard (0...GCWeakTable.maximumCapacity).contains(minimumCount) else {
            throw .invalidArgument("capacity must be in 0...2^48, got \(minimumCount)")
        }
        enterCollector()
        let wanted = WeakTableState.capacity(reserving: minimumCount)
        var pending: DeadHalves? = nil
        let result: Result<Void, GCError> = mutate { state in
            state.floorCapacity = max(state.floorCapacity, wanted)
            guard wanted > state.capacity else { return .success(()) }
            _ = state.vacuumDeadEntries(pending: &pending)
            do throws(GCError) {
                try state.rehash(to: max(wanted, state.fittingCapacity))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        deliver(pending)
        try result.get()
    }

    // MARK: Unsafe fast paths

    /// Inserts or replaces, with raw addresses.
    ///
    /// The fast path of ``setValue(_:forKey:)``: no root is made.
    ///
    /// - Precondition: both are starts of GC heap objects (not checked) and
    ///   the caller keeps both reachable (a registered thread's stack, a
    ///   scanned GC object, a root) until the call returns.
    /// - Parameters:
    ///   - value: The start of a live GC object.
    ///   - key: The start of a live GC object.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the table must grow
    ///   and cannot.
    public func unsafeSetValue(
        _ value: UnsafeMutableRawPointer, forKey key: UnsafeMutableRawPointer
    ) throws(GCError) {
        enterCollector()
        var pending: DeadHalves? = nil
        let eager = vacuumPolicy == .eager
        let (outcome, deadWaiting, collectFirst): (WeakTableState.InsertOutcome, Bool, Bool) = mutate { state in
            let outcome = state.insert(value, forKey: key, pending: &pending)
            let collectFirst: Bool
            if case .full = outcome {
                collectFirst = state.wantsCollectionBeforeGrowing(eager: eager)
                if collectFirst { state.collectionsBeforeGrowing += 1 }
            } else {
                collectFirst = false
            }
            return (outcome, eager && state.deadCount > 0, collectFirst)
        }
        deliver(pending)
        if collectFirst {
            // Outside the lock: the collection's sweep finds the dead
            // entries, the vacuum drops them, and the insert may then fit.
            libgc_collectSome()
            runVacuum()
        }
        if case .full = outcome { try insertAfterGrowing(value, forKey: key) }
        // An eager table also vacuums at the first insert after a collection
        // found dead entries, whichever comes first of this and the post-GC
        // hook: the hook runs on the finalizer thread, which a busy inserter
        // can starve of a core, and until the vacuum every dead entry holds
        // its strong half (a dropped port's buffers and converter).
        if deadWaiting { runVacuum() }
    }

    /// Whether there is a live entry for `key`, with a raw address.
    ///
    /// - Precondition: `key` is the start of a GC heap object the caller
    ///   keeps reachable for the call (for identity hashing, any address
    ///   works: it is only compared).
    /// - Parameter key: The key object's address.
    /// - Returns: Whether a live entry for `key` exists.
    public func unsafeContains(_ key: UnsafeMutableRawPointer) -> Bool {
        enterCollector()
        if lockFreeLookups, let (found, _) = optimisticLookup(key) { return found }
        return state.withLock { $0.find(key) != nil }
    }

    /// The value for `key`, with raw addresses.
    ///
    /// The lookup fast path: no root is made.
    ///
    /// - Precondition: as for ``unsafeContains(_:)``.
    /// - Parameter key: The key object's address.
    /// - Returns: The value's address, or nil if there is no live entry for
    ///   `key`. The collector owns the memory, and only the caller's stack
    ///   keeps the value alive after the call: root it
    ///   (``GCRoot/init(unsafeAddress:)``) or store it in a reachable GC
    ///   object before relying on it past its use.
    public func unsafeValue(forKey key: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        enterCollector()
        return lookup(key)
    }

    /// Looks up many keys under one lock.
    ///
    /// - Precondition: `values.count >= keys.count`; each key as for
    ///   ``unsafeContains(_:)``; the addresses written to `values` are kept
    ///   alive only by what the caller does with them (`values` should be
    ///   on the stack or in scanned GC memory).
    /// - Parameters:
    ///   - keys: The key objects' addresses.
    ///   - values: Receives, at index `i`, the value's address for `keys[i]`,
    ///     or nil when there is no live entry for it.
    public func unsafeValues(
        forKeys keys: UnsafeBufferPointer<UnsafeMutableRawPointer>,
        into values: UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>
    ) {
        precondition(values.count >= keys.count, "values must hold one slot per key")
        enterCollector()
        state.withLock { state in
            for n in keys.indices {
                values[n] = state.find(keys[n]).flatMap { state.valueObject($0) }
            }
        }
    }

    /// Removes the live entry for `key`, with a raw address.
    ///
    /// `onDeadEntry` is not called.
    ///
    /// - Precondition: as for ``unsafeContains(_:)``.
    /// - Parameter key: The key object's address.
    /// - Returns: Whether there was a live entry.
    @discardableResult
    public func unsafeRemoveValue(forKey key: UnsafeMutableRawPointer) -> Bool {
        enterCollector()
        return mutate { $0.remove(key) != nil }
    }

    // MARK: Internals

    @inline(__always)
    func lookup(_ key: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        if lockFreeLookups, let (_, value) = optimisticLookup(key) { return value }
        return state.withLock { state in
            guard let i = state.find(key) else { return nil }
            return state.valueObject(i)
        }
    }

    /// Runs `body` under the lock as a writer of the sequence lock that
    /// lock-free lookups validate against.
    @inline(__always)
    func mutate<R>(_ body: (inout WeakTableState) -> R) -> R {
        state.withLock { state in
            // Only holders of the lock write `version`, so plain stores do.
            // Every slot write is a release store (cgc_store_field,
            // cgc_exchange_field, cgc_weak_copy_slot), so none moves before
            // the odd store; the even store publishes them all.
            let odd = version.load(ordering: .relaxed) &+ 1
            version.store(odd, ordering: .releasing)
            let result = body(&state)
            readWords.store(UInt(bitPattern: state.words), ordering: .relaxed)
            readShift.store(state.shift, ordering: .relaxed)
            version.store(odd &+ 1, ordering: .releasing)
            return result
        }
    }

    /// A lookup without the lock (identity hashing).
    ///
    /// The same probe as under the lock, over the storage as published, then
    /// a check that no writer ran meanwhile. Returns nil when a writer interfered or the
    /// value died while it was read (the caller then takes the lock), else
    /// whether the key was found and its value. The storage stays alive
    /// while its address is in a register (the collector scans registers);
    /// a value read is valid because the slot still held it when the
    /// version was checked again, and weak values are read with the
    /// read-reveal-reread of `shim_loadWeak`.
    @inline(__always)
    func optimisticLookup(_ key: UnsafeMutableRawPointer) -> (Bool, UnsafeMutableRawPointer?)? {
        let before = version.load(ordering: .acquiring)
        if before & 1 != 0 { return nil }
        guard let words = UnsafeMutablePointer<UInt>(bitPattern: readWords.load(ordering: .relaxed)) else {
            return nil
        }
        let slot = WeakTableState.probeIdentity(
            key, words: words, shift: readShift.load(ordering: .relaxed), weakKeys: weakKeys,
            weakValues: weakValues)
        var value: UnsafeMutableRawPointer? = nil
        if let slot {
            let field = words + (2 &* slot &+ 1)
            value = weakValues ? shim_loadWeak(field) : shim_loadStrong(field)
            if value == nil { return nil }
        }
        guard version.load(ordering: .acquiring) == before else { return nil }
        shim_keepAlive(words)
        return (value != nil, value)
    }

    @inline(never)
    func insertAfterGrowing(
        _ value: UnsafeMutableRawPointer, forKey key: UnsafeMutableRawPointer
    ) throws(GCError) {
        var pending: DeadHalves? = nil
        var probed: DeadHalves? = nil
        let result: Result<Void, GCError> = mutate { state in
            // No probe limit after a rehash: it leaves the storage at most
            // half full, so the insert finds a slot; a second rehash (to
            // twice the capacity) is only a guard, and the loop is bounded.
            for attempt in 0..<3 {
                let limit = attempt == 0 ? WeakTableState.probeLimit : .max
                guard case .full = state.insert(value, forKey: key, pending: &probed, probeLimit: limit) else {
                    return .success(())
                }
                // Eager: drop dead entries first (their strong halves go to
                // onDeadEntry), then size for what is left. Lazy: carry them
                // and size for them too.
                let eager = vacuumPolicy == .eager
                if eager { _ = state.vacuumDeadEntries(pending: &pending) }
                let capacity = attempt == 0 ? state.fittingCapacity : state.capacity * 2
                do throws(GCError) {
                    try state.rehash(to: capacity, carryDead: !eager)
                } catch {
                    return .failure(error)
                }
            }
            preconditionFailure("a weak table at most half full after a rehash found no free slot")
        }
        deliver(probed)
        deliver(pending)
        try result.get()
    }

    /// Hands strong halves of vacuumed entries to the dead-entry handler,
    /// outside every lock.
    func deliver(_ pending: consuming DeadHalves?) {
        guard let pending else { return }
        switch deadEntryHandler {
        case .none:
            break
        case .roots(let body):
            for object in pending.objects { body(GCRoot(rooting: object)) }
        case .raw(let body):
            body(pending.addresses)
        }
        pending.release()
    }
}
