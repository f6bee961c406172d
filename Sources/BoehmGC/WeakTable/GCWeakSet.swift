/// A set of GC objects held weakly, found by a hash and a match over their
/// content: the shape of a symbol table.
///
/// An element stays in the set while it is reachable from elsewhere, and
/// goes when a collection finds it unreachable, like the keys of a
/// ``GCWeakTable`` with ``GCWeakTable/Weakness/keys`` (the same storage,
/// sweep and vacuum; see <doc:WeakTables>). Nothing is registered with libgc
/// per element.
///
/// The set stores no hashing closures: every call gives the hash of what it
/// looks for and a match over the stored elements, so a lookup needs no
/// object (borrowed bytes, a Swift string, any value will do) and
/// allocates nothing. The caller keeps the hashes consistent: an element
/// must always be looked up with the hash it was added with. This is
/// Guile's weak set (`scm_c_weak_set_lookup`, `scm_c_weak_set_add_x`),
/// which holds Guile's symbols.
///
/// ```swift
/// let symbols = try GCWeakSet()
/// let name = try GCRoot(byteCount: 16, kind: .pointerFree)
/// name.withUnsafeMutableBytes { $0.storeBytes(of: 42, as: Int.self) }
/// let hash = 42.hashValue
/// let interned = try symbols.add(name, hash: hash) { $0.load(as: Int.self) == 42 }
/// // `interned` is `name`, or an element equal to it that was there first.
/// ```
///
/// Lookups take no lock (the storage's sequence lock validates them), and a
/// get-or-insert (``handle(hash:where:orInsert:)``) is linearizable: threads
/// that race to add equal elements all get the one that was added.
///
/// A match closure must not use its own set. It runs under the set's lock
/// when an element is added or removed, and when a lookup meets a writer
/// (so on one thread it may seem to work, and with several it does not);
/// a call back into the set from under the lock ends the process with a
/// message that names this rule, where it would wait for itself for ever.
public final class GCWeakSet: Sendable {
    /// The table that holds the elements (package: the benchmark counts its
    /// slots).
    package let table: GCWeakTable

    /// Creates an empty set whose vacuum runs after every collection.
    ///
    /// - Parameter minimumCapacity: Elements the set holds without growing,
    ///   in `0...2^48`; it never shrinks below that.
    /// - Throws: ``GCError/outOfMemory(byteCount:)``;
    ///   ``GCError/invalidArgument(_:)`` for a `minimumCapacity` outside
    ///   `0...2^48`.
    public init(minimumCapacity: Int = 0) throws(GCError) {
        table = try GCWeakTable(
            weakness: .keys, hashing: .identity, vacuum: .eager, minimumCapacity: minimumCapacity,
            deadEntryHandler: .none, layout: .set)
    }

    // MARK: Lookup

    /// The element with hash `hash` that satisfies `matches`, with a raw
    /// address.
    ///
    /// `matches` is called with the address of each stored element of that
    /// hash, which stays alive for the call; it must not keep the address or
    /// use the set. The lookup takes no lock.
    ///
    /// The corresponding C function is `scm_c_weak_set_lookup` (Guile).
    ///
    /// - Parameters:
    ///   - hash: The hash the element was added with.
    ///   - matches: Whether the element at the given address is the one
    ///     looked for.
    /// - Returns: The element's address, or nil. Only the caller's stack
    ///   keeps the element alive after the call: root it
    ///   (``GCRoot/init(unsafeAddress:)``) or store it in a reachable GC
    ///   object before relying on it past its use.
    public func unsafeElement(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> UnsafeMutableRawPointer? {
        table.unsafeValue(hash: hash, where: matches)
    }

    /// The element with hash `hash` that satisfies `matches`, held by a
    /// ``GCHandle``.
    ///
    /// - Parameters:
    ///   - hash: The hash the element was added with.
    ///   - matches: Whether the element at the given address is the one
    ///     looked for.
    /// - Returns: A handle to the element, or nil.
    public func handle(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> GCHandle? {
        table.handle(hash: hash, where: matches)
    }

    /// Whether an element with hash `hash` satisfies `matches`.
    ///
    /// - Parameters:
    ///   - hash: The hash the element was added with.
    ///   - matches: Whether the element at the given address is the one
    ///     looked for.
    /// - Returns: Whether such an element is in the set.
    public func contains(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> Bool {
        table.unsafeValue(hash: hash, where: matches) != nil
    }

    // MARK: Add

    /// Adds `element` unless an element with hash `hash` that satisfies
    /// `matches` is in the set; returns the one in the set.
    ///
    /// `matches` must accept `element` itself (it says which stored element
    /// equals it), and must not use the set: it may run under the set's
    /// lock. Linearizable: threads racing to add equal elements all get the
    /// one that was added first.
    ///
    /// The corresponding C function is `scm_c_weak_set_add_x` (Guile).
    ///
    /// - Parameters:
    ///   - element: The element to add.
    ///   - hash: Its hash.
    ///   - matches: Whether the element at the given address equals
    ///     `element`.
    /// - Returns: The element in the set: an equal one found, or `element`.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` if the set must grow and
    ///   cannot; the set is unchanged.
    public func add(_ element: GCRoot, hash: Int, where matches: (UnsafeRawPointer) -> Bool) throws(GCError) -> GCRoot {
        let added = try unsafeAdd(element.unsafeAddress, hash: hash, where: matches)
        if added == element.unsafeAddress { return element }
        return GCRoot(rooting: added)
    }

    /// ``add(_:hash:where:)`` with raw addresses.
    ///
    /// - Precondition: `element` is the start of a GC heap object the caller
    ///   keeps reachable until the call returns.
    /// - Parameters:
    ///   - element: The element's address.
    ///   - hash: Its hash.
    ///   - matches: Whether the element at the given address equals
    ///     `element`.
    /// - Returns: The address of the element in the set.
    /// - Throws: ``GCError/outOfMemory(byteCount:)``.
    public func unsafeAdd(
        _ element: UnsafeMutableRawPointer, hash: Int, where matches: (UnsafeRawPointer) -> Bool
    ) throws(GCError) -> UnsafeMutableRawPointer {
        enterCollector()
        let hash = WeakTableState.contentHash(hash)
        let (found, observed) = table.lookupBeforeInsert(hash: hash, where: matches)
        if let found { return found }
        return try table.insertKeeping(Self.entry(element, hash: hash), absentAt: observed, where: matches)
    }

    /// The element with hash `hash` that satisfies `matches`, or, if there
    /// is none, the element `make` makes, added; held by a ``GCHandle``.
    ///
    /// Interning: look a name up by its bytes, and make the symbol only when
    /// it is absent. `make` runs outside the set's lock and may use the set;
    /// when threads race it may run on each of them, and all get the one
    /// element added (the others go with the next collection). The element
    /// it makes must have hash `hash` and satisfy `matches`. `matches` may
    /// run under the set's lock and must not use the set (see
    /// ``GCWeakSet``).
    ///
    /// - Parameters:
    ///   - hash: The hash of the element looked for.
    ///   - matches: Whether the element at the given address is the one
    ///     looked for.
    ///   - make: Makes the element to add.
    /// - Returns: A handle to the element in the set.
    /// - Throws: What `make` throws (the set is unchanged);
    ///   ``GCError/outOfMemory(byteCount:)``.
    public func handle(
        hash: Int, where matches: (UnsafeRawPointer) -> Bool, orInsert make: () throws -> GCRoot
    ) throws -> GCHandle {
        var made: GCRoot? = nil
        let element = try unsafeElement(hash: hash, where: matches) {
            let root = try make()
            made = root
            return root.unsafeAddress
        }
        let handle = GCHandle(rooting: element)
        withExtendedLifetime(made) {}
        return handle
    }

    /// ``handle(hash:where:orInsert:)`` with raw addresses.
    ///
    /// - Precondition: `make` returns the start of a GC heap object (its
    ///   address stays on the stack until the call returns).
    /// - Parameters:
    ///   - hash: The hash of the element looked for.
    ///   - matches: Whether the element at the given address is the one
    ///     looked for.
    ///   - make: Makes the element to add.
    /// - Returns: The address of the element in the set; only the caller's
    ///   stack keeps it alive after the call.
    /// - Throws: What `make` throws; ``GCError/outOfMemory(byteCount:)``.
    public func unsafeElement(
        hash: Int, where matches: (UnsafeRawPointer) -> Bool, orInsert make: () throws -> UnsafeMutableRawPointer
    ) throws -> UnsafeMutableRawPointer {
        enterCollector()
        let hash = WeakTableState.contentHash(hash)
        return try table.getOrInsert(hash: hash, where: matches) { Self.entry(try make(), hash: hash) }
    }

    // MARK: Remove

    /// Removes the element with hash `hash` that satisfies `matches`.
    ///
    /// `matches` runs under the set's lock.
    ///
    /// The corresponding C function is `scm_c_weak_set_remove_x` (Guile).
    ///
    /// - Parameters:
    ///   - hash: The hash the element was added with.
    ///   - matches: Whether the element at the given address is the one to
    ///     remove.
    /// - Returns: The element removed, rooted, or nil if none matched.
    @discardableResult
    public func remove(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> GCRoot? {
        table.removeValue(hash: hash, where: matches)
    }

    /// ``remove(hash:where:)`` with no root made.
    ///
    /// - Parameters:
    ///   - hash: The hash the element was added with.
    ///   - matches: Whether the element at the given address is the one to
    ///     remove.
    /// - Returns: Whether an element was removed.
    @discardableResult
    public func unsafeRemove(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> Bool {
        table.unsafeRemoveValue(hash: hash, where: matches)
    }

    /// Removes every element.
    public func removeAll() { table.removeAll() }

    // MARK: The whole set

    /// The number of elements (as ``GCWeakTable/count``: one a collection
    /// found unreachable no longer counts).
    public var count: Int { table.count }

    /// Whether the set has no elements.
    public var isEmpty: Bool { count == 0 }

    /// Calls `body` with each element, rooted.
    ///
    /// Iterates a snapshot, as ``GCWeakTable/forEach(_:)``: `body` runs
    /// outside the lock and may use the set.
    ///
    /// - Parameter body: Called with each element.
    /// - Throws: What `body` throws; the iteration stops there.
    public func forEach(_ body: (GCRoot) throws -> Void) rethrows {
        for element in table.elementSnapshot() { try body(element) }
    }

    /// Makes room for `minimumCount` elements without growing, and keeps the
    /// capacity from shrinking below that.
    ///
    /// - Parameter minimumCount: Elements to make room for, in `0...2^48`.
    /// - Throws: ``GCError/outOfMemory(byteCount:)``;
    ///   ``GCError/invalidArgument(_:)`` for a count outside `0...2^48`.
    public func reserveCapacity(_ minimumCount: Int) throws(GCError) {
        try table.reserveCapacity(minimumCount)
    }

    /// Removes the elements the collector found unreachable now (the set
    /// does it after every collection on its own).
    public func vacuum() { table.vacuum() }

    /// The set's counters (as a table's: ``GCWeakTable/Statistics``; its
    /// storage is 16 bytes a slot, the hash stored beside each element).
    public var statistics: GCWeakTable.Statistics { table.statistics }

    /// The entry that adds `element` with content hash `hash`: the element
    /// hidden in the key word, the hash in the value word.
    @inline(__always)
    static func entry(_ element: UnsafeMutableRawPointer, hash: UInt) -> WeakTableState.NewEntry {
        WeakTableState.NewEntry(keyWord: shim_hide(element), valueWord: hash, hash: hash, key: element, value: element)
    }
}

extension GCWeakTable {
    /// The keys of the live entries, rooted, after a vacuum (a set's
    /// elements).
    func elementSnapshot() -> [GCRoot] {
        enterCollector()
        var pending: DeadHalves? = nil
        let snapshot: [GCRoot] = mutate { state in
            _ = state.vacuumDeadEntries(pending: &pending)
            var elements: [GCRoot] = []
            elements.reserveCapacity(state.liveCount)
            for i in 0..<state.capacity where shim_loadField(state.keyField(i)) > slotDead {
                if let key = state.keyObject(i) { elements.append(GCRoot(rooting: key)) }
            }
            return elements
        }
        deliver(pending)
        return snapshot
    }
}
