import Synchronization

/// What a foreign resource's handle is, and how it is closed: the last link
/// of the release chain.
///
/// Every resource record points to one. The ports have one per kind of port,
/// made once; a ``ForeignResource`` opened with a `close` closure has one of
/// its own, which holds the closure.
package final class ForeignResourceKind: Sendable {
    /// The handle's type (``ForeignResourceRegistry/forEachOpen(_:_:)``
    /// visits the resources of one type).
    let handleType: ObjectIdentifier
    /// Closes the handle stored at the given address.
    ///
    /// Called once per resource, outside its lock, by
    /// ``ForeignResourceRecord/close()``. It must not throw or use the
    /// resource; it may leave the handle's memory uninitialised (the record
    /// never reads it again) or valid.
    let closeHandle: @Sendable (UnsafeMutableRawPointer) -> Void

    /// A kind for handles of `handleType`, closed by `closeHandle`.
    package init<Handle: ~Copyable>(
        handleType: Handle.Type, closeHandle: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) {
        self.handleType = ObjectIdentifier(handleType)
        self.closeHandle = closeHandle
    }
}

/// A foreign resource's record: one pointer-free GC object that holds the
/// resource's lock, its account with ``ForeignMemory``, its kind, then the
/// handle, then bytes the owner may use (a port's short buffer).
///
/// Nothing of a resource lives in malloc'd memory, so a resource dropped
/// unclosed leaves only GC memory behind until a collection finds it (and
/// what its handle holds); releasing it frees nothing but the handle's own.
/// The record is pointer-free: the collector never scans it (a Swift
/// reference stored in a handle is kept by Swift's own count), and in
/// generational mode libgc never write-protects its page.
///
/// Layout (bytes): 0 the lock word (``ResourceLock``; the futex word at the
/// record's own address); 8 the bytes reported to ``ForeignMemory``; 16 the
/// collection window they were reported in (low 56 bits) and four flags
/// (high bits): closed, held by its registry entry, owns its kind,
/// accounted (an accounted record stands for one foreign object); 24 the
/// kind (unretained unless owned); 32 the handle (aligned to at most 8);
/// then the trailing bytes. Every byte counts: a dropped port leaves its
/// record until a collection finds it.
///
/// What keeps it alive: the resource's GC object (its key), whose first
/// word points to it, and, while the resource is registered and its handle
/// holds something to release, its entry in a ``ForeignResourceRegistry``
/// (the entry's strong value). A handle that holds nothing outside the GC
/// heap (a string port's state with its output in the record) needs no
/// release: its entry holds a placeholder instead, so the collection that
/// finds the key unreachable frees the record with it, and the vacuum only
/// counts the resource released. Once closed and let go by its owner, a
/// record is freed (`GC_free`); one the vacuum released is left to the
/// collector (freeing it would tell libgc that less was allocated since the
/// collection than was, and put the next one off by as much).
///
/// Not generic: its users (``ForeignResource``, the ports of `GCPorts`)
/// know their handle's type. A `package` generic call is neither
/// specialised nor inlined across modules (not even `@inlinable`), so the
/// lock, taken on every use of every port, is plain calls here.
package struct ForeignResourceRecord: @unchecked Sendable {
    /// The record's GC object.
    package let address: UnsafeMutableRawPointer

    package init(_ address: UnsafeMutableRawPointer) {
        self.address = address
    }

    /// Bytes before the handle.
    package static var headerSize: Int { 32 }

    var lock: UnsafeMutablePointer<ResourceLock.Word> { address.assumingMemoryBound(to: ResourceLock.Word.self) }
    private var reportedBytes: UnsafeMutablePointer<Int> { (address + 8).assumingMemoryBound(to: Int.self) }
    /// The window (low 56 bits) and the flags (high bits).
    private var windowAndFlags: UnsafeMutablePointer<UInt64> {
        (address + 16).assumingMemoryBound(to: UInt64.self)
    }
    var kind: UnsafeMutablePointer<Unmanaged<ForeignResourceKind>> {
        (address + 24).assumingMemoryBound(to: Unmanaged<ForeignResourceKind>.self)
    }

    private static var closedFlag: UInt64 { 1 << 63 }
    private static var heldFlag: UInt64 { 1 << 62 }
    private static var ownsKindFlag: UInt64 { 1 << 61 }
    private static var accountedFlag: UInt64 { 1 << 60 }
    private static var windowMask: UInt64 { (1 << 56) - 1 }

    private func flag(_ flag: UInt64) -> Bool { windowAndFlags.pointee & flag != 0 }
    private func setFlag(_ flag: UInt64, _ on: Bool) {
        windowAndFlags.pointee = on ? windowAndFlags.pointee | flag : windowAndFlags.pointee & ~flag
    }

    /// Closed: under the lock, set once.
    var isClosed: Bool {
        get { flag(Self.closedFlag) }
        nonmutating set { setFlag(Self.closedFlag, newValue) }
    }
    /// The registry entry holds the record: under the lock, set once.
    var isHeldByRegistry: Bool {
        get { flag(Self.heldFlag) }
        nonmutating set { setFlag(Self.heldFlag, newValue) }
    }
    /// The kind was retained for this record (released at close).
    var ownsKind: Bool { flag(Self.ownsKindFlag) }
    /// The resource reports its bytes to ForeignMemory.
    var isAccounted: Bool { flag(Self.accountedFlag) }

    /// What was reported and not given back (under the lock): the bytes, one
    /// object for an accounted record, and the window.
    var allocation: ForeignMemory.Allocation {
        get {
            // UInt64.max (an allocation of several windows) keeps its low
            // 56 bits here, and stays one no collection count reaches.
            let window = windowAndFlags.pointee & Self.windowMask
            return ForeignMemory.Allocation(
                byteCount: reportedBytes.pointee, objects: isAccounted ? 1 : 0,
                window: window == Self.windowMask ? UInt64.max : window)
        }
        nonmutating set {
            reportedBytes.pointee = newValue.byteCount
            windowAndFlags.pointee = windowAndFlags.pointee & ~Self.windowMask | newValue.window & Self.windowMask
        }
    }

    /// The handle: use it only under the record's lock, or from the kind's
    /// close function.
    package var handle: UnsafeMutableRawPointer { address + Self.headerSize }

    /// Bytes to ask of the collector for a record with a handle of
    /// `handleSize` bytes and at least `trailingByteCount` bytes after it,
    /// and the trailing bytes that request gives: a GC object takes a whole
    /// number of 16-byte granules (one byte more than asked for, since
    /// libgc runs with interior pointers recognised), so the rest of the
    /// last granule is the owner's too.
    static func size(handleSize: Int, trailingByteCount: Int) -> (request: Int, trailing: Int) {
        let fixed = headerSize + handleSize
        let request = (fixed + max(0, trailingByteCount) + 1 + 15) / 16 * 16 - 1
        return (request, request - fixed)
    }

    /// Writes the header of a new, open record (its handle is the caller's
    /// to initialise).
    func initializeHeader(kind: ForeignResourceKind, ownsKind: Bool, accounted: Bool, heldByRegistry: Bool) {
        ResourceLock.initialize(lock)
        reportedBytes.initialize(to: 0)
        windowAndFlags.initialize(
            to: (heldByRegistry ? Self.heldFlag : 0) | (ownsKind ? Self.ownsKindFlag : 0)
                | (accounted ? Self.accountedFlag : 0))
        self.kind.initialize(to: ownsKind ? Unmanaged.passRetained(kind) : Unmanaged.passUnretained(kind))
    }

    /// The kind of a record whose header was written.
    var handleType: ObjectIdentifier { kind.pointee.takeUnretainedValue().handleType }

    /// Takes the record's lock if the resource is open and usable here.
    ///
    /// - Returns: nil when the lock is now held (release it with
    ///   ``unlock()``); otherwise why the resource cannot be used (closed,
    ///   or abandoned at a fork), and the lock is not held.
    package func lockIfOpen() -> ForeignResourceError? {
        guard ResourceLock.lock(lock) else { return .inUseAtFork }
        guard !isClosed else {
            ResourceLock.unlock(lock)
            return .closed
        }
        return nil
    }

    /// Releases the lock ``lockIfOpen()`` took.
    package func unlock() {
        ResourceLock.unlock(lock)
    }

    /// Runs `body` under the lock of an open record.
    ///
    /// - Returns: What `body` returned, or why the resource cannot be used
    ///   (closed, or abandoned at a fork: `body` did not run).
    func withLockIfOpen<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> Result<R, ForeignResourceError> {
        if let unavailable = lockIfOpen() { return .failure(unavailable) }
        defer { unlock() }
        return .success(try body())
    }

    /// Changes the bytes reported for the resource to `newByteCount`.
    ///
    /// Under the lock, on an open record. Adds or removes the difference;
    /// nothing for a record that is not accounted.
    ///
    /// - Throws: ``ForeignMemory/AccountingError`` for a negative count or
    ///   one that would overflow the live counts (nothing changes).
    package func setByteCountUnderLock(_ newByteCount: Int) throws(ForeignMemory.AccountingError) {
        guard isAccounted else { return }
        guard newByteCount >= 0 else { throw .negativeCount }
        let reported = allocation
        let difference = newByteCount - reported.byteCount
        if difference > 0 {
            let added = try ForeignMemory.add(byteCount: difference, objects: 0)
            allocation = reported.adding(added)
        } else if difference < 0 {
            try ForeignMemory.remove(reported.part(byteCount: -difference))
            allocation = reported.part(byteCount: newByteCount, objects: reported.objects)
        }
    }

    /// Whether the registry entry holds the record (see
    /// ``ForeignResourceReference/keepRecordForRelease()``); under the lock.
    package var isHeld: Bool { isHeldByRegistry }

    /// Closes the resource, once: under the lock it is marked closed and its
    /// allocation taken; then, outside the lock, the kind closes the handle.
    ///
    /// - Returns: The allocation to give back to ``ForeignMemory`` (`.none`
    ///   when not accounted), or nil when this call did not close it (closed
    ///   before, or abandoned at a fork: its handle is then left alone).
    func close() -> ForeignMemory.Allocation? {
        guard ResourceLock.lock(lock) else { return nil }
        if isClosed {
            ResourceLock.unlock(lock)
            return nil
        }
        isClosed = true
        let given = allocation
        allocation = .none
        let kind = self.kind.pointee
        ResourceLock.unlock(lock)
        kind.takeUnretainedValue().closeHandle(handle)
        if ownsKind { kind.release() }
        return given
    }

    /// Closes the resource and gives its bytes back (a close by hand, or a
    /// finalizer's); false if it was closed before or abandoned at a fork.
    func closeAndGiveBack() -> Bool {
        guard let given = close() else { return false }
        ForeignResourceRecord.giveBack(given)
        return true
    }

    /// Gives back what a closed record had reported.
    static func giveBack(_ allocation: ForeignMemory.Allocation) {
        guard allocation.byteCount > 0 || allocation.objects > 0 else { return }
        do {
            try ForeignMemory.remove(allocation)
        } catch {
            // Each record adds its bytes once and removes them once.
            assertionFailure("foreign accounting out of balance: \(error)")
        }
    }

    /// Frees a closed record that nothing can reach any more (`GC_free`).
    ///
    /// The caller knows no thread can use it: its owner let go of it, and no
    /// registry visit (``ForeignResourceRegistry/forEachOpen(_:_:)``) that
    /// may have seen it is in progress.
    func free() {
        libgc_free(address)
    }
}
