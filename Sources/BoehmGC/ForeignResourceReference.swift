/// The owner's side of an open foreign resource: a root to the resource's
/// GC object (its key), and its record.
///
/// ``ForeignResource`` holds one; so do the ports of `GCPorts`, which use it
/// directly to spare a Swift object per port. The key is a small scanned GC
/// object whose first word points to the record: holding the key keeps the
/// record alive, and the key is what the collector tracks (the registry's
/// weak key, or the finalizer's object). When the owner goes, a closed
/// record is freed at once; an open one stays until the collection that
/// finds the key unreachable, after which the registry's vacuum (or the
/// finalizer) closes it.
package struct ForeignResourceReference: ~Copyable, @unchecked Sendable {
    // `key` roots the key object, which keeps `record` alive; all three are
    // set once in init. The record's mutable state is guarded by its lock.
    private let key: GCHandle
    package let record: ForeignResourceRecord
    /// Where the resource is registered; nil when a finalizer releases it.
    package let registry: ForeignResourceRegistry?

    /// Opens a resource: allocates its record, initialises the handle in
    /// place, reports its bytes and registers it.
    ///
    /// - Parameters:
    ///   - handleSize: The handle's size (`MemoryLayout.stride`), in bytes.
    ///   - handleAlignment: Its alignment, at most 8.
    ///   - accounted: Whether to report the handle's bytes to
    ///     ``ForeignMemory``.
    ///   - measuresByteCount: Whether to measure the bytes around
    ///     `initialize` (see ``ForeignResources/mallocMeasurement``) rather
    ///     than take what it returns.
    ///   - registry: The registry whose vacuum releases the resource when it
    ///     is dropped unclosed; nil for a libgc finalizer instead.
    ///   - kind: The handle's kind: how it is closed.
    ///   - ownsKind: Whether the record retains `kind` (a kind made for this
    ///     resource alone); a shared kind must outlive every record of it.
    ///   - keyByteCount: Size of the key object, at least 8 bytes.
    ///   - trailingByteCount: Bytes wanted after the handle in the record.
    ///   - initialize: Initialises the handle at the given address; it gets
    ///     the trailing bytes (at least as many as asked for: the rest of
    ///     the record's last granule), and returns the foreign bytes the
    ///     handle holds, 0 or more, and whether it holds anything to release
    ///     yet (see ``keepRecordForRelease()``; a finalizer always runs). If
    ///     it throws, nothing stays allocated or registered, and the handle
    ///     is left uninitialised.
    /// - Throws: What `initialize` throws; ``GCError/outOfMemory(byteCount:)``
    ///   for the record, the key or the registry entry;
    ///   ``ForeignMemory/AccountingError`` when the bytes cannot be recorded.
    ///   In every case but the first the handle is closed again (through its
    ///   kind) and nothing stays recorded.
    package init(
        handleSize: Int, handleAlignment: Int, accounted: Bool, measuresByteCount: Bool = false,
        registry: ForeignResourceRegistry?, kind: ForeignResourceKind, ownsKind: Bool, keyByteCount: Int = 8,
        trailingByteCount: Int = 0,
        initialize: (UnsafeMutableRawPointer, UnsafeMutableRawBufferPointer) throws -> (
            byteCount: Int, needsRelease: Bool
        )
    ) throws {
        precondition(handleAlignment <= 8, "a foreign resource's handle must be aligned to at most 8 bytes")
        enterCollector()
        let size = ForeignResourceRecord.size(handleSize: handleSize, trailingByteCount: trailingByteCount)
        guard let address = libgc_malloc(size.request, pointerFree: true) else {
            throw GCError.outOfMemory(byteCount: size.request)
        }
        let record = ForeignResourceRecord(address)
        // The key first, so that the registry's slot for it, out of the
        // cache in a large table (a cache and TLB miss, 130 ns of a dropped
        // port's 940 at 1 GB of live heap), is fetched while `initialize`
        // runs. Garbage if anything below fails.
        guard let keyObject = libgc_malloc(max(keyByteCount, 8), pointerFree: false) else {
            record.free()
            throw GCError.outOfMemory(byteCount: max(keyByteCount, 8))
        }
        registry?.prefetchEntry(key: keyObject)
        let before = measuresByteCount ? ForeignResources.measurementCounter() : 0
        let opened: (byteCount: Int, needsRelease: Bool)
        do {
            opened = try initialize(
                record.handle, UnsafeMutableRawBufferPointer(start: record.handle + handleSize, count: size.trailing))
        } catch {
            record.free()
            throw error
        }
        let byteCount = measuresByteCount ? ForeignResources.measuredBytes(since: before) : opened.byteCount
        let held = registry == nil || opened.needsRelease
        record.initializeHeader(kind: kind, ownsKind: ownsKind, accounted: accounted, heldByRegistry: held)
        keyObject.storeBytes(of: address, as: UnsafeMutableRawPointer.self)
        // The key and the record are alive on this stack until the key is
        // rooted, last (a failure below leaves both to the collector).
        if accounted {
            do {
                record.allocation = try ForeignMemory.add(byteCount: byteCount, objects: 1)
            } catch {
                _ = record.close()
                throw error
            }
        }
        do {
            if let registry {
                try registry.register(record: held ? address : nil, key: keyObject, accounted: accounted)
            } else {
                try GCRoot(rooting: keyObject).setFinalizer { key in
                    let record = ForeignResourceRecord(key.unsafeAddress.load(as: UnsafeMutableRawPointer.self))
                    guard record.closeAndGiveBack() else { return }
                    ForeignResourceCounters.shared.releasedByCollector.add(1, ordering: .relaxed)
                    // The key, being finalized, is the last thing that
                    // reaches the record.
                    record.free()
                }
            }
        } catch {
            _ = record.closeAndGiveBack()
            throw error
        }
        ForeignResourceCounters.shared.opened.add(1, ordering: .relaxed)
        key = GCHandle(rooting: keyObject)
        self.record = record
        self.registry = registry
        shim_keepAlive(address)
    }

    /// The key object: what the collector tracks for the resource.
    package var keyAddress: UnsafeMutableRawPointer { key.unsafeAddress }

    /// A new root to the key object.
    package var object: GCRoot { GCRoot(rooting: key.unsafeAddress) }

    /// Bytes of GC memory the resource takes: its record and its key, as
    /// the collector sized them (`GC_size`).
    package var gcByteCount: Int { libgc_size(record.address) + libgc_size(key.unsafeAddress) }

    /// Runs `body` under the resource's lock.
    ///
    /// - Parameter body: Uses the handle (at
    ///   ``ForeignResourceRecord/handle``) in place; it must not use this
    ///   resource again (its lock is held).
    /// - Returns: What `body` returns.
    /// - Throws: ``ForeignResourceError/closed`` after close;
    ///   ``ForeignResourceError/inUseAtFork`` when the resource was abandoned
    ///   at a fork (`body` does not run); what `body` throws.
    func withLock<R>(_ body: () throws -> R) throws -> R {
        if let reason = record.lockIfOpen() { throw reason }
        defer { record.unlock() }
        return try body()
    }

    /// Makes the registry entry hold the record from now on.
    ///
    /// Then a drop of the resource is followed by its release. Call it under
    /// the lock once the handle holds something to release (memory outside
    /// the GC heap, a descriptor, output to flush). Until then a dropped
    /// resource's record goes with its key, and the vacuum only counts it
    /// released.
    package func keepRecordForRelease() {
        guard !record.isHeld, let registry else { return }
        if registry.hold(record: record.address, key: key.unsafeAddress) { record.isHeldByRegistry = true }
    }

    /// The bytes reported now: 0 when not accounted, closed, or abandoned
    /// at a fork.
    package var byteCount: Int {
        let record = record
        return (try? record.withLockIfOpen { record.allocation.byteCount }.get()) ?? 0
    }

    /// Whether the resource is closed (false for one abandoned at a fork).
    package var isClosed: Bool {
        let record = record
        guard ResourceLock.lock(record.lock) else { return false }
        defer { ResourceLock.unlock(record.lock) }
        return record.isClosed
    }

    /// Closes the handle and gives its bytes back, unless closed before.
    ///
    /// - Returns: Whether this call closed it (false when it was closed
    ///   before, or abandoned at a fork).
    package func close() -> Bool {
        guard record.closeAndGiveBack() else { return false }
        ForeignResourceCounters.shared.closedExplicitly.add(1, ordering: .relaxed)
        if let registry {
            registry.unregister(key: key.unsafeAddress)
        } else {
            _ = GCRoot(rooting: key.unsafeAddress).removeFinalizer()
        }
        return true
    }

    deinit {
        // Closed and let go: nothing else can use the record (a registry
        // visit in progress may hold its address, then it is left to the
        // collector). Open: its registry entry or finalizer releases it
        // once the key is found unreachable.
        guard record.isClosed else { return }
        if registry?.hasVisitors != true { record.free() }
    }
}
