/// A weak-keyed table of open foreign resources whose vacuum closes the
/// resources that were dropped unclosed.
///
/// Each entry maps a resource's GC object (the weak key) to a one-word
/// pointer-free GC object holding a retained reference to the resource's
/// state (the strong value). When a collection finds the key unreachable,
/// the table's sweep marks the entry dead; the vacuum that follows the
/// collection hands the value's address to the registry, which closes the
/// handle, gives its bytes back and lets the reference go. Nothing is
/// registered with libgc per resource, so libgc's 4,096-entry rule (a
/// forced full collection before its finalizer or link table grows) never
/// applies; and releasing a dead entry allocates nothing and takes no
/// process-wide lock (the *lean vacuum*; see <doc:ForeignMemoryAndResources>).
///
/// The registry also lists the open resources (``forEachOpen(_:_:)``), which
/// is how the ports flush every open output port (`Ports.flushAll()`, and
/// at exit, where they also end it).
public final class ForeignResourceRegistry: Sendable {
    internal let table: GCWeakTable

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
    package init(vacuum: GCWeakTable.VacuumPolicy) throws(GCError) {
        table = try GCWeakTable(
            weakness: .keys, hashing: .identity, vacuum: vacuum, minimumCapacity: 0,
            deadEntryHandler: .raw { values in ForeignResourceRegistry.closeDead(values) })
    }

    /// Resources still registered when the registry goes away (only
    /// possible once every Swift wrapper of them is gone, since each holds
    /// the registry) are closed here, so no handle is leaked.
    deinit {
        table.removeAllDeliveringLiveEntries()
    }

    /// Adds an entry for `object`: a one-word value holding `state`,
    /// retained until the entry is removed or vacuumed.
    @usableFromInline
    func register(_ state: CollectableResource, for object: GCRoot) throws(GCError) {
        let value = try GC.unsafeAllocate(byteCount: MemoryLayout<UInt>.size, kind: .pointerFree)
        let retained = Unmanaged<CollectableResource>.passRetained(state)
        value.storeBytes(of: UInt(bitPattern: retained.toOpaque()), as: UInt.self)
        do {
            try table.unsafeSetValue(value, forKey: object.unsafeAddress)
        } catch {
            retained.release()
            throw error
        }
        withExtendedLifetime(object) {}
    }

    /// Removes the entry of a resource closed by hand.
    @usableFromInline
    func unregister(_ object: GCRoot) {
        guard let value = table.removeValueAddress(forKey: object.unsafeAddress) else { return }
        _ = ForeignResourceRegistry.takeState(from: value)
        withExtendedLifetime(object) {}
    }

    /// The state a value object holds, with the reference the entry held.
    ///
    /// The caller now owns that reference. The value is alive (the caller's
    /// frame holds its address).
    private static func takeState(from value: UnsafeMutableRawPointer) -> CollectableResource {
        state(in: value).takeRetainedValue()
    }

    /// The state a value object holds; every value holds one:
    /// register(_:for:) is the only writer.
    private static func state(in value: UnsafeMutableRawPointer) -> Unmanaged<CollectableResource> {
        Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: value.load(as: UInt.self))!)
    }

    /// Closes the resources of the entries a vacuum found dead, in order.
    ///
    /// Their values and states were last used before the collection, and a
    /// collection's worth of them is out of the cache: each is prefetched a
    /// few entries ahead (the value, then the state it points to, then what
    /// the state's close reads first), so the misses overlap instead of
    /// coming one after another.
    private static func closeDead(_ values: UnsafeBufferPointer<UnsafeMutableRawPointer?>) {
        let count = values.count
        for i in 0..<count {
            if i + 8 < count { shim_prefetch(values[i + 8]) }
            if i + 4 < count { shim_prefetch(state(in: values[i + 4].unsafelyUnwrapped).toOpaque()) }
            if i + 2 < count { state(in: values[i + 2].unsafelyUnwrapped).takeUnretainedValue().prefetchForClose() }
            takeState(from: values[i].unsafelyUnwrapped).closeFromCollector()
        }
    }

    /// Closes the resources of dead entries now.
    ///
    /// The registry does this after every collection on its own; the call
    /// is for a caller that wants the handles closed before that vacuum
    /// runs.
    public func vacuum() { table.vacuum() }

    /// Resources registered and not yet closed or vacuumed.
    ///
    /// Those whose object a collection found unreachable count until the
    /// vacuum closes them.
    public var count: Int {
        let statistics = table.statistics
        return statistics.liveEntries + statistics.deadAwaitingVacuum
    }

    /// The counters of the registry's table (see ``GCWeakTable/Statistics``).
    public var tableStatistics: GCWeakTable.Statistics { table.statistics }

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
        // Each state is retained under the table's lock, where no close or
        // vacuum can let its entry's reference go.
        var states: [AnyObject] = []
        table.forEachLiveValueAddress { value in
            let bits = value.load(as: UInt.self)
            states.append(Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue())
        }
        var visited = 0
        for case let core as ForeignResourceCore<Handle> in states {
            if try core.withOpenHandle(body) { visited += 1 }
        }
        return visited
    }
}
