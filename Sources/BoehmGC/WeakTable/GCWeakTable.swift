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
/// libgc: at each collection, just after the world restarts (the
/// collector's lock still held, its mark bits those of mark end), the
/// collector's event callback walks every table and marks dead each entry
/// whose weak object was not marked; lookups meanwhile check the mark bit of
/// what they read. This is the semantics of a *short* disappearing link: the
/// entry goes as soon as its weak object is unreachable, before that
/// object's finalizer runs, even if the finalizer resurrects it. The cost is
/// O(capacity of all tables) per collection, outside the stopped world, and
/// nothing per insert; a libgc
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
/// before it sizes), to hold the most entries of the last three collection
/// windows at half load, and shrinks when that peak falls below an eighth of
/// it (hysteresis: a churning table settles at a capacity instead of
/// shrinking after each collection and growing back before the next; an
/// explicit ``vacuum()`` shrinks for the live entries at once), never below
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
/// lookups take none (a sequence lock validates them). The
/// collector's sweep never takes it. Content lookups take none either. An
/// equality or match closure must not call back into the same table (it may
/// run under the lock; such a call traps with a message naming the rule);
/// the hash closure, a get-or-insert's maker and `onDeadEntry` run outside
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

    /// How the capacity follows the entries.
    ///
    /// Only `.hysteresis` is offered to users; `.immediate` is the sizing
    /// before it, which the benchmark measures beside it.
    package enum Sizing: Sendable, Equatable {
        /// For the most entries held over the current and the two previous
        /// collection windows (the default).
        case hysteresis
        /// For the entries held now: shrinks at every vacuum that leaves it
        /// below a quarter full.
        case immediate
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
        /// from content that never changes while the key is in a table. It
        /// runs outside the table's lock. The lookups by hash and match
        /// (``GCWeakTable/unsafeValue(hash:where:)``) take the same hash of
        /// what they look for. `equals` may run under the lock, so it must
        /// not use the table: a call back into it ends the process with a
        /// message that names this rule, in release builds too (it would
        /// otherwise wait for itself for ever).
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
    /// A sequence lock over the storage for lock-free lookups.
    ///
    /// Odd while a holder of `state` changes slots or storage.
    /// `readWords`, `readShift` and `readHashes` mirror the storage for
    /// readers; they are stored (release) after the odd version and loaded
    /// (acquire) between two loads of it, so a reader that sees the same
    /// even version twice has a consistent storage.
    let version = Atomic<UInt>(0)
    let readWords = Atomic<UInt>(0)
    let readShift = Atomic<UInt>(0)
    let readHashes = Atomic<UInt>(0)
    /// How keys are found (identity, content, or a weak set's).
    let layout: WeakTableState.Layout
    /// The content closures (nil for identity and sets), also kept here so
    /// that lookups hash outside the lock.
    let hashing: Hashing
    let deadEntryHandler: DeadEntryHandler
    /// The message of the trap that ends a closure's call back into its own
    /// table (see ``Hashing``).
    static let reentryRule: StaticString = """
        GCWeakTable/GCWeakSet: an equality or match closure used its own table or set; these closures run \
        under its lock, so the call would wait for itself for ever. Give them what they need before the call.
        """
    /// The vacuum hook (``VacuumPolicy/Behaviour/vacuumsAfterEveryCollection``),
    /// set once at the end of init and cancelled by deinit.
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
        minimumCapacity: Int = 0, sizing: Sizing = .hysteresis, onDeadEntry: (@Sendable (GCRoot) -> Void)? = nil
    ) throws(GCError) {
        try self.init(
            weakness: weakness, hashing: hashing, vacuum: vacuum, minimumCapacity: minimumCapacity,
            deadEntryHandler: onDeadEntry.map { .roots($0) } ?? .none, sizing: sizing)
    }

    /// The designated initialiser: `deadEntryHandler` may take raw addresses
    /// (the registry of foreign resources: no root per dead entry).
    internal init(
        weakness: Weakness, hashing: Hashing, vacuum: VacuumPolicy, minimumCapacity: Int,
        deadEntryHandler: DeadEntryHandler, layout: WeakTableState.Layout? = nil, sizing: Sizing = .hysteresis
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
        let layout = layout ?? (hashing.hash == nil ? .identity : .content)
        let initial: WeakTableState
        do {
            initial = try WeakTableState(
                region: region, weakKeys: weakKeys, weakValues: weakValues, layout: layout, hashing: hashing,
                keepsDeadEntries: !deadEntryHandler.isNone && weakness != .keysAndValues,
                minimumCapacity: minimumCapacity, followsPeak: sizing == .hysteresis)
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
        self.readHashes.store(UInt(bitPattern: initial.hashes), ordering: .relaxed)
        self.layout = layout
        self.hashing = hashing
        self.state = Lock(initial, reentryRule: GCWeakTable.reentryRule)
        if vacuum.behaviour.vacuumsAfterEveryCollection { try installVacuumHook() }
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
        let hash = entryHash(key.unsafeAddress)
        let value = mutate { $0.remove(key.unsafeAddress, hash: hash) }
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
    /// until the next collection. A count taken while a collection sweeps
    /// the tables waits for the sweep (milliseconds) to end.
    public var count: Int {
        enterCollector()
        return afterSweepWindow { state.withLock { $0.liveCount } }
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
        let new = entry(value, forKey: key)
        if layout == .identity {
            _ = try upsert(new, onMatch: .replace) { _, _, word in word == new.keyWord }
        } else {
            _ = try upsert(new, onMatch: .replace) { state, i, _ in state.keyEquals(i, hash: new.hash, key) }
        }
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
        return lookup(key) != nil
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
        guard layout == .identity else {
            // Content keys are hashed outside the lock, one at a time.
            for n in keys.indices { values[n] = lookup(keys[n]) }
            return
        }
        state.withLock { state in
            for n in keys.indices {
                values[n] = state.findIdentity(keys[n]).flatMap { state.valueObject($0) }
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
        let hash = entryHash(key)
        return mutate { $0.remove(key, hash: hash) != nil }
    }

    // MARK: Internals

    /// The entry `key` → `value` as an insert writes it; a content key is
    /// hashed here, outside the lock.
    @inline(__always)
    func entry(_ value: UnsafeMutableRawPointer, forKey key: UnsafeMutableRawPointer) -> WeakTableState.NewEntry {
        WeakTableState.NewEntry(
            keyWord: weakKeys ? shim_hide(key) : UInt(bitPattern: key),
            valueWord: weakValues ? shim_hide(value) : UInt(bitPattern: value), hash: entryHash(key), key: key,
            value: value)
    }

    /// The hash a key object is stored and bucketed by: its address
    /// (identity), or its content hash, computed here, outside the lock (the
    /// `hash` closure never runs under it).
    @inline(__always)
    func entryHash(_ key: UnsafeMutableRawPointer) -> UInt {
        guard let contentHash = hashing.hash else { return UInt(bitPattern: key) }
        return WeakTableState.contentHash(contentHash(UnsafeRawPointer(key)))
    }

    /// The value of the live entry for `key`, by identity or by the table's
    /// content closures; lock-free unless a writer interferes.
    @inline(__always)
    func lookup(_ key: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        if layout == .identity {
            if let (_, value, _) = optimisticLookup(key) { return value }
            return state.withLock { state in state.findIdentity(key).flatMap { state.valueObject($0) } }
        }
        let equals = hashing.equals.unsafelyUnwrapped
        let hash = WeakTableState.contentHash(hashing.hash.unsafelyUnwrapped(UnsafeRawPointer(key)))
        let value = contentLookup(hash) { candidate in candidate == UnsafeRawPointer(key) || equals(candidate, key) }
        shim_keepAlive(key)
        return value
    }

    /// The value (for a set, the element) of the live entry whose key has
    /// stored hash `hash` and matches; lock-free unless a writer interferes.
    @inline(__always)
    func contentLookup(_ hash: UInt, _ matches: (UnsafeRawPointer) -> Bool) -> UnsafeMutableRawPointer? {
        switch optimisticContentLookup(hash, matches) {
        case .found(let value): return value
        case .absent: return nil
        case .interfered:
            return state.withLock { state in
                state.findSlot(hash: hash) { state, i, _ in state.keyMatches(i, hash: hash, matches) }
                    .flatMap { state.entryValue($0) }
            }
        }
    }

    /// Runs `body` outside any sweep window, so that what it reads of the
    /// counts is not a collection half recorded (inside a window, entries
    /// the marker found dead are not all marked DEAD yet); waits for an open
    /// window to close, and runs `body` again if one opened meanwhile.
    func afterSweepWindow<R>(_ body: () -> R) -> R {
        while true {
            let before = shim_weakSweepSequence()
            if before & 1 != 0 {
                shim_weakSweepWait()
                continue
            }
            let result = body()
            if shim_weakSweepSequence() == before { return result }
        }
    }

    /// Runs `body` under the lock as a writer of the sequence lock that
    /// lock-free lookups validate against.
    @inline(__always)
    func mutate<R>(_ body: (inout WeakTableState) -> R) -> R {
        mutateAfter { state, _ in body(&state) }
    }

    /// ``mutate(_:)``, or, without `waiting`, nil at once if another thread
    /// holds the lock (the vacuum hook).
    @inline(__always)
    func mutate<R>(waiting: Bool, _ body: (inout WeakTableState) -> R) -> R? {
        guard !waiting else { return mutate(body) }
        return state.withLockIfAvailable { state in write(&state) { state, _ in body(&state) } }
    }

    /// ``mutate(_:)``, also passing the (even) version before this writer:
    /// equal to the version a lock-free probe saw, it means that no writer
    /// ran since.
    @inline(__always)
    func mutateAfter<R>(_ body: (inout WeakTableState, UInt) -> R) -> R {
        state.withLock { state in write(&state, body) }
    }

    /// The writer's side of the sequence lock, for a holder of the lock.
    @inline(__always)
    private func write<R>(_ state: inout WeakTableState, _ body: (inout WeakTableState, UInt) -> R) -> R {
        // Only holders of the lock write `version`, so plain stores do.
        // Every slot write is a release store (cgc_store_field,
        // cgc_exchange_field, cgc_weak_copy_slot), so none moves before
        // the odd store; the even store publishes them all.
        let previous = version.load(ordering: .relaxed)
        version.store(previous &+ 1, ordering: .releasing)
        let result = body(&state, previous)
        readWords.store(UInt(bitPattern: state.words), ordering: .releasing)
        readShift.store(state.shift, ordering: .releasing)
        readHashes.store(UInt(bitPattern: state.hashes), ordering: .releasing)
        version.store(previous &+ 2, ordering: .releasing)
        return result
    }

    /// Asks the processor for the cache line of `key`'s home slot.
    ///
    /// For an insert or a lookup soon (identity hashing; nothing
    /// otherwise). A hint: it never faults, and a storage replaced
    /// meanwhile only wastes it. In a table of millions of entries the home
    /// slot is a cache and a TLB miss; issued a few hundred nanoseconds
    /// ahead, its latency hides behind the caller's work.
    @inline(__always)
    func prefetchSlot(forKey key: UnsafeMutableRawPointer) {
        guard layout == .identity, let (_, words, shift, _) = publishedStorage() else { return }
        shim_prefetch(words + 2 &* WeakTableState.bucket(UInt(bitPattern: key), shift: shift))
    }

    /// The storage as last published, and the version it was read at; nil
    /// while a writer runs.
    @inline(__always)
    func publishedStorage() -> (
        version: UInt, words: UnsafeMutablePointer<UInt>, shift: UInt, hashes: UnsafeMutablePointer<Int>?
    )? {
        let before = version.load(ordering: .acquiring)
        guard before & 1 == 0,
            let words = UnsafeMutablePointer<UInt>(bitPattern: readWords.load(ordering: .acquiring))
        else { return nil }
        let shift = readShift.load(ordering: .acquiring)
        let hashes = UnsafeMutablePointer<Int>(bitPattern: readHashes.load(ordering: .acquiring))
        guard version.load(ordering: .acquiring) == before else { return nil }
        return (before, words, shift, hashes)
    }

    /// A lookup without the lock (identity hashing).
    ///
    /// The same probe as under the lock, over the storage as published, then
    /// a check that no writer ran meanwhile. Returns nil when a writer interfered or the
    /// value died while it was read (the caller then takes the lock), else
    /// whether the key was found, its value, and the version the probe
    /// saw. The storage stays alive while its address is in a register (the
    /// collector scans registers); a value read is valid because the slot
    /// still held it when the version was checked again, and weak values are
    /// read with the read-reveal-reread of `shim_loadWeak`.
    @inline(__always)
    func optimisticLookup(_ key: UnsafeMutableRawPointer) -> (Bool, UnsafeMutableRawPointer?, UInt)? {
        guard let (before, words, shift, _) = publishedStorage() else { return nil }
        let slot = WeakTableState.probeIdentity(
            key, words: words, shift: shift, weakKeys: weakKeys, weakValues: weakValues)
        var value: UnsafeMutableRawPointer? = nil
        if let slot {
            let field = words + (2 &* slot &+ 1)
            value = weakValues ? shim_loadWeak(field) : shim_loadStrong(field)
            if value == nil { return nil }
        }
        guard version.load(ordering: .acquiring) == before else { return nil }
        shim_keepAlive(words)
        return (value != nil, value, before)
    }

    /// What a lock-free content probe saw.
    enum ContentProbe {
        /// The value (for a set, the element) of the matching entry.
        case found(UnsafeMutableRawPointer)
        /// No live entry matched, at this version of the storage.
        case absent(version: UInt)
        /// A writer ran, or an entry died, while the probe read: take the lock.
        case interfered
    }

    /// A content lookup without the lock: the probe of ``findSlot``, over
    /// the storage as published.
    ///
    /// A candidate key is revealed (`shim_loadWeak` for weak keys), then the
    /// version is checked before `matches` sees it: on a storage a writer has
    /// replaced since, a weak key could be one that no sweep covers any more.
    /// The value is read after the match and the version checked again.
    @inline(__always)
    func optimisticContentLookup(_ hash: UInt, _ matches: (UnsafeRawPointer) -> Bool) -> ContentProbe {
        guard let (before, words, shift, hashes) = publishedStorage() else { return .interfered }
        let mask = Int(bitPattern: (1 as UInt) &<< (64 &- shift)) &- 1
        let isSet = layout == .set
        var i = WeakTableState.bucket(hash, shift: shift)
        for _ in 0...mask {
            let keyField = words + 2 &* i
            let word = shim_loadField(keyField)
            if word == slotEmpty { break }
            if word > slotDead {
                let valueField = keyField + 1
                let stored = isSet ? shim_loadField(valueField) : UInt(bitPattern: hashes.unsafelyUnwrapped[i])
                if stored == hash, weakKeys || !weakValues || shim_loadField(valueField) != slotDead,
                    let key = weakKeys ? shim_loadWeak(keyField) : shim_loadStrong(keyField)
                {
                    guard version.load(ordering: .acquiring) == before else { return .interfered }
                    if matches(UnsafeRawPointer(key)) {
                        let value = isSet ? key : (weakValues ? shim_loadWeak(valueField) : shim_loadStrong(valueField))
                        guard let value, version.load(ordering: .acquiring) == before else { return .interfered }
                        shim_keepAlive(key)
                        shim_keepAlive(words)
                        return .found(value)
                    }
                    shim_keepAlive(key)
                }
            }
            i = (i &+ 1) & mask
        }
        guard version.load(ordering: .acquiring) == before else { return .interfered }
        shim_keepAlive(words)
        return .absent(version: before)
    }

    /// Inserts `new`, replacing or keeping the live entry for its key (as
    /// `matches(state, slot, keyWord)` recognises it), with the whole insert
    /// protocol: deliveries of what the probe vacuumed, a collection before
    /// growing past a sixteenth of the heap, growth, and the vacuum at the
    /// first insert after a collection found dead entries.
    ///
    /// `absentAt`: the version at which a lock-free probe found no entry for
    /// the key. If no writer ran since, the entry is still absent (the sweep
    /// only removes entries), so the insert takes a free slot without calling
    /// `matches`: a get-or-insert runs no user closure under the lock.
    @inline(__always)
    func upsert(
        _ new: WeakTableState.NewEntry, onMatch: WeakTableState.OnMatch, absentAt observed: UInt? = nil,
        matches: (borrowing WeakTableState, Int, UInt) -> Bool
    ) throws(GCError) -> WeakTableState.InsertOutcome {
        var pending: DeadHalves? = nil
        let behaviour = vacuumPolicy.behaviour
        let (outcome, deadWaiting, collectFirst): (WeakTableState.InsertOutcome, Bool, Bool) = mutateAfter {
            state, previous in
            let outcome: WeakTableState.InsertOutcome
            if let observed, observed == previous {
                outcome = state.insert(new, onMatch: onMatch, pending: &pending) { _, _, _ in false }
            } else {
                outcome = state.insert(new, onMatch: onMatch, pending: &pending, matches: matches)
            }
            let collectFirst: Bool
            if case .full = outcome {
                collectFirst = behaviour.collectsBeforeGrowing && state.wantsCollectionBeforeGrowing()
                if collectFirst { state.collectionsBeforeGrowing += 1 }
            } else {
                collectFirst = false
            }
            return (outcome, behaviour.vacuumsAtInsert && state.deadCount > 0, collectFirst)
        }
        deliver(pending)
        if collectFirst {
            // Outside the lock: the collection's sweep finds the dead
            // entries, the vacuum drops them, and the insert may then fit.
            libgc_collectSome()
            runVacuum()
        }
        var result = outcome
        if case .full = outcome { result = try insertAfterGrowing(new, onMatch: onMatch, matches: matches) }
        // An eager table also vacuums at the first insert after a collection
        // found dead entries, whichever comes first of this and the post-GC
        // hook: the hook runs on the hook thread, which a busy inserter can
        // starve of a core, and until the vacuum every dead entry holds its
        // strong half (a dropped port's buffers and converter).
        if deadWaiting { runVacuum() }
        shim_keepAlive(new.key)
        shim_keepAlive(new.value)
        return result
    }

    @inline(never)
    func insertAfterGrowing(
        _ new: WeakTableState.NewEntry, onMatch: WeakTableState.OnMatch,
        matches: (borrowing WeakTableState, Int, UInt) -> Bool
    ) throws(GCError) -> WeakTableState.InsertOutcome {
        var pending: DeadHalves? = nil
        var probed: DeadHalves? = nil
        let result: Result<WeakTableState.InsertOutcome, GCError> = mutate { state in
            // No probe limit after a rehash: it leaves the storage at most
            // half full, so the insert finds a slot; a second rehash (to
            // twice the capacity) is only a guard, and the loop is bounded.
            for attempt in 0..<3 {
                let limit = attempt == 0 ? WeakTableState.probeLimit : .max
                let outcome = state.insert(
                    new, onMatch: onMatch, pending: &probed, probeLimit: limit, matches: matches)
                guard case .full = outcome else { return .success(outcome) }
                // Eager: drop dead entries first (their strong halves go to
                // onDeadEntry), then size for what is left. Lazy: carry them
                // and size for them too.
                let drops = vacuumPolicy.behaviour.dropsDeadEntriesWhenGrowing
                if drops { _ = state.vacuumDeadEntries(pending: &pending) }
                let capacity = attempt == 0 ? state.fittingCapacity : state.capacity * 2
                do throws(GCError) {
                    try state.rehash(to: capacity, carryDead: !drops)
                } catch {
                    return .failure(error)
                }
            }
            preconditionFailure("a weak table at most half full after a rehash found no free slot")
        }
        deliver(probed)
        deliver(pending)
        return try result.get()
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
