import Synchronization

/// A weak-keyed table of open foreign resources whose vacuum closes the
/// resources that were dropped unclosed.
///
/// Each entry maps a resource's GC object (the weak key) to a small
/// pointer-free GC object naming the resource's state (the strong value).
/// When a collection finds the key unreachable, the table's sweep marks the
/// entry dead; the vacuum (after the collection with
/// ``GCWeakTable/VacuumPolicy/eager``, or at the next ``vacuum()`` or table
/// operation with ``GCWeakTable/VacuumPolicy/lazyOnly``) hands the value to
/// the registry, which closes the handle and gives its bytes back. Nothing is
/// registered with libgc per resource, so libgc's 4,096-entry rule (a forced
/// full collection before its finalizer or link table grows) never applies.
///
/// The registry also lists the open resources (``forEachOpen(_:_:)``), which
/// is how the ports flush every open file port at exit.
public final class ForeignResourceRegistry: Sendable {
    internal let table: GCWeakTable
    /// The state of every registered resource, by the id its table value
    /// holds. Holding the states here (not as a retained pointer in GC
    /// memory) lets ``forEachOpen(_:_:)`` race safely with close.
    private let states = RegistryStates()
    private let nextID = Atomic<Int>(1)

    /// Creates a registry.
    ///
    /// - Parameter vacuum: When dead entries are closed: after every
    ///   collection (``GCWeakTable/VacuumPolicy/eager``, the default) or only
    ///   when the table is next used or vacuumed.
    /// - Throws: ``GCError/outOfMemory(byteCount:)``.
    public init(vacuum: GCWeakTable.VacuumPolicy = .eager) throws(GCError) {
        let states = self.states
        table = try GCWeakTable(
            weakness: .keys, vacuum: vacuum,
            onDeadEntry: { value in
                let id = value.withUnsafeMutableBytes { $0.load(as: Int.self) }
                let core = states.map.withLock { $0.removeValue(forKey: id) }
                core?.closeFromCollector()
            })
    }

    /// Resources still registered when the registry goes away (only
    /// possible once every Swift wrapper of them is gone, since each holds
    /// the registry) are closed here, so no handle is leaked.
    deinit {
        let remaining = states.map.withLock { map in
            defer { map.removeAll() }
            return Array(map.values)
        }
        for core in remaining { core.closeFromCollector() }
    }

    func register(_ core: ForeignResourceCoreBase, for object: GCRoot) throws(GCError) {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let value = try GCRoot(byteCount: MemoryLayout<Int>.size, kind: .pointerFree)
        value.withUnsafeMutableBytes { $0.storeBytes(of: id, as: Int.self) }
        states.map.withLock { $0[id] = core }
        do {
            try table.setValue(value, forKey: object)
        } catch {
            states.map.withLock { _ = $0.removeValue(forKey: id) }
            throw error
        }
    }

    func unregister(_ object: GCRoot) {
        guard let value = table.removeValue(forKey: object) else { return }
        let id = value.withUnsafeMutableBytes { $0.load(as: Int.self) }
        states.map.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Closes the resources of dead entries now.
    public func vacuum() { table.vacuum() }

    /// Resources registered and not yet closed or vacuumed.
    public var count: Int { states.map.withLock { $0.count } }

    /// The open-resources table's counters.
    public var tableStatistics: GCWeakTable.Statistics { table.statistics }

    /// Calls `body` with the handle of every registered resource of type
    /// `Handle` that is still open, under that resource's lock, one at a
    /// time. Resources registered or closed meanwhile may be missed.
    ///
    /// - Returns: How many handles `body` was called with.
    @discardableResult
    public func forEachOpen<Handle: Sendable>(
        _ type: Handle.Type, _ body: (Handle) throws -> Void
    ) rethrows -> Int {
        let snapshot = states.map.withLock { Array($0.values) }
        var visited = 0
        for case let core as ForeignResourceCore<Handle> in snapshot {
            if try core.withOpenHandle(body) { visited += 1 }
        }
        return visited
    }
}

/// The registry's id-to-state map, in a class so the vacuum callback can
/// share it.
private final class RegistryStates: Sendable {
    let map = Lock<[Int: ForeignResourceCoreBase]>([:])
}
