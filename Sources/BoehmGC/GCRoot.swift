/// How the collector treats an object's contents.
public enum GCMemoryKind: Sendable, Equatable {
    /// Scanned for pointers: anything it points to stays alive.
    ///
    /// The corresponding C function is `GC_malloc`.
    case scanned
    /// Never scanned (strings, numbers, buffers).
    ///
    /// Cheaper to collect; a pointer stored here does not keep its target
    /// alive.
    ///
    /// The corresponding C function is `GC_malloc_atomic`.
    case pointerFree
}

/// A strong reference from Swift to an object on the GC heap.
///
/// The collector does not scan memory that Swift allocates (class instances,
/// arrays, closure contexts, async frames), so a GC pointer kept only there
/// can be freed under you. A `GCRoot` keeps its object alive for as long as
/// the `GCRoot` itself is alive: it stores the address in a one-word cell of
/// a root range the collector scans (malloc'd slabs registered once with
/// `GC_add_roots`, so a root never counts against the heap limit). Keep
/// roots anywhere Swift values go: in arrays, classes, closures, across
/// `await` and threads.
///
/// ```swift
/// let node = try GCRoot(byteCount: 32)          // zeroed, scanned
/// node.withUnsafeMutableBytes { $0.storeBytes(of: 42, as: Int.self) }
/// let list = [node]                              // safe: the root keeps it
/// GC.collect()
/// ```
///
/// Copies of a `GCRoot` reference share one root; the object may be
/// collected once the last copy is gone and nothing else reaches it. For a
/// root that lives in one place without a Swift object, see ``GCHandle``;
/// for a typed value, ``GCBox``.
public final class GCRoot: @unchecked Sendable {
    // The cell is taken in init and given back in deinit; the address it
    // holds never changes in between, so sharing across threads needs no lock.
    private let cell: RootCells.Cell
    /// The size asked for, or -1 when the root was made for an object that
    /// exists already (then `byteCount` asks the collector, on demand).
    private let requestedByteCount: Int

    /// The usable size of the object in bytes: the size asked for when the
    /// root allocated it, else the collector's size of the object.
    ///
    /// The corresponding C function is `GC_size`.
    public var byteCount: Int { requestedByteCount >= 0 ? requestedByteCount : libgc_size(unsafeAddress) }

    /// Allocates a zeroed object on the GC heap.
    ///
    /// The collector may run a collection to make room; finalizers and hooks
    /// never run inside this call.
    ///
    /// - Parameters:
    ///   - byteCount: Size in bytes, 0 or more; 0 allocates the smallest
    ///     object.
    ///   - kind: Whether the collector scans the contents for pointers.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` when the heap limit is
    ///   reached or the system refuses memory;
    ///   ``GCError/invalidArgument(_:)`` for a negative size.
    ///
    /// The corresponding C functions are `GC_malloc` and `GC_malloc_atomic`.
    public convenience init(byteCount: Int, kind: GCMemoryKind = .scanned) throws(GCError) {
        let object = try GC.unsafeAllocate(byteCount: byteCount, kind: kind)
        self.init(rooting: object, byteCount: byteCount)
    }

    /// Roots an object that is already on the GC heap.
    ///
    /// - Parameter unsafeAddress: The start of a live GC object. The caller
    ///   must keep it reachable (on its stack, or stored in a reachable GC
    ///   object) until this initialiser returns.
    /// - Throws: ``GCError/invalidArgument(_:)`` if `unsafeAddress` is not
    ///   the start of a GC heap object (an interior address, or memory the
    ///   collector does not own).
    ///
    /// The corresponding C function is `GC_base` (the check).
    public convenience init(unsafeAddress: UnsafeMutableRawPointer) throws(GCError) {
        enterCollector()
        try GC.checkObjectStart(unsafeAddress, "GCRoot(unsafeAddress:)")
        self.init(rooting: unsafeAddress)
    }

    /// Takes over `handle`'s root: no new cell is made.
    ///
    /// - Parameter handle: The handle to consume; its object is now kept
    ///   alive by this root.
    public init(_ handle: consuming GCHandle) {
        cell = handle.takeCell()
        requestedByteCount = -1
    }

    internal init(rooting object: UnsafeMutableRawPointer, byteCount: Int = -1) {
        enterCollector()
        self.cell = RootCells.take(holding: object)
        self.requestedByteCount = byteCount
    }

    deinit {
        RootCells.give(cell)
    }

    /// The object's address.
    ///
    /// The collector owns the memory; the object stays alive while this root
    /// is alive. The address must not be kept past the root's lifetime, nor
    /// stored in Swift memory as the only reference. Prefer
    /// ``withUnsafeMutableBytes(_:)``.
    public var unsafeAddress: UnsafeMutableRawPointer { cell.pointee.unsafelyUnwrapped }

    /// Calls `body` with the object's bytes, read-only.
    ///
    /// The buffer covers ``byteCount`` bytes; the collector owns them, and
    /// the object is kept alive for the call. Do not let the buffer escape
    /// it.
    ///
    /// - Parameter body: A closure that reads the bytes.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result = try body(UnsafeRawBufferPointer(start: unsafeAddress, count: byteCount))
        withExtendedLifetime(self) {}
        return result
    }

    /// Calls `body` with the object's bytes.
    ///
    /// The buffer covers ``byteCount`` bytes; the collector owns them, and
    /// the object is kept alive for the call. Do not let the buffer escape
    /// it.
    ///
    /// - Parameter body: A closure that reads or writes the bytes.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        let result = try body(UnsafeMutableRawBufferPointer(start: unsafeAddress, count: byteCount))
        withExtendedLifetime(self) {}
        return result
    }

    /// Stores a reference to `other`'s object (or nil) in a pointer-sized slot of this object.
    ///
    /// In a scanned object this keeps `other` alive for as long as this
    /// object is alive and the slot is not overwritten; in a pointer-free one
    /// it keeps nothing alive.
    ///
    /// - Parameters:
    ///   - other: The object to refer to, or nil to clear the slot.
    ///   - index: The slot: bytes `index * 8 ..< (index + 1) * 8` of the
    ///     object.
    /// - Throws: ``GCError/invalidArgument(_:)`` if the slot does not lie
    ///   inside the object (nothing is stored).
    public func setReference(_ other: GCRoot?, at index: Int) throws(GCError) {
        let offset = try slotOffset(index)
        unsafeAddress.storeBytes(of: other?.unsafeAddress, toByteOffset: offset, as: UnsafeMutableRawPointer?.self)
        withExtendedLifetime(other) {}
    }

    /// Reads a pointer-sized slot of this object and roots the object it refers to.
    ///
    /// - Parameter index: The slot: bytes `index * 8 ..< (index + 1) * 8` of
    ///   the object.
    /// - Returns: A new root for the object the slot refers to, or nil if
    ///   the slot is null.
    /// - Throws: ``GCError/invalidArgument(_:)`` if the slot does not lie
    ///   inside the object, or holds an address that is not the start of a
    ///   GC object.
    public func reference(at index: Int) throws(GCError) -> GCRoot? {
        let offset = try slotOffset(index)
        guard let target = unsafeAddress.load(fromByteOffset: offset, as: UnsafeMutableRawPointer?.self) else {
            return nil
        }
        let root = try GCRoot(unsafeAddress: target)
        withExtendedLifetime(self) {}
        return root
    }

    /// The byte offset of pointer-sized slot `index`, checked to lie inside the object.
    private func slotOffset(_ index: Int) throws(GCError) -> Int {
        let size = MemoryLayout<UnsafeRawPointer>.size
        guard index >= 0, index < byteCount / size else {
            throw .invalidArgument("reference slot \(index) is outside a \(byteCount)-byte object")
        }
        return index * size
    }

    /// Whether both roots refer to the same object.
    ///
    /// - Parameter other: Another root.
    /// - Returns: Whether the two addresses are equal.
    public func refersToSameObject(as other: GCRoot) -> Bool {
        unsafeAddress == other.unsafeAddress
    }
}

extension GC {
    /// Throws unless `address` is the start of a GC heap object.
    internal static func checkObjectStart(_ address: UnsafeMutableRawPointer, _ caller: String) throws(GCError) {
        guard libgc_base(address) == address else {
            throw .invalidArgument("\(caller) needs the start of a GC heap object, got \(address)")
        }
    }

    /// Allocates a zeroed object on the GC heap and returns its address.
    ///
    /// The collector owns the memory. Nothing keeps the object alive but a
    /// reference the collector can see: the caller's stack (on a registered
    /// thread), a scanned GC object, or a root. Prefer
    /// ``GCRoot/init(byteCount:kind:)``.
    ///
    /// - Parameters:
    ///   - byteCount: Size in bytes, 0 or more.
    ///   - kind: Whether the collector scans the contents for pointers.
    /// - Returns: The object's address (zeroed, 16-byte aligned).
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` when the heap limit is
    ///   reached or the system refuses memory;
    ///   ``GCError/invalidArgument(_:)`` for a negative size.
    ///
    /// The corresponding C functions are `GC_malloc` and `GC_malloc_atomic`.
    public static func unsafeAllocate(
        byteCount: Int, kind: GCMemoryKind = .scanned
    ) throws(GCError) -> UnsafeMutableRawPointer {
        guard byteCount >= 0 else { throw .invalidArgument("byteCount must not be negative, got \(byteCount)") }
        enterCollector()
        guard
            let object = libgc_malloc(byteCount, pointerFree: kind == .pointerFree)
                ?? HeapLimit.collectingOnce({ libgc_malloc(byteCount, pointerFree: kind == .pointerFree) })
        else {
            throw .outOfMemory(byteCount: byteCount)
        }
        // GC_malloc_atomic does not clear; every allocation here is zeroed.
        if kind == .pointerFree { object.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        return object
    }

    /// Resizes a GC object, keeping its kind and its first bytes; it may move.
    ///
    /// The object keeps its ``GCMemoryKind`` (and stays uncollectable if it
    /// was); the first `min(old, new)` bytes are kept; scanned memory added
    /// is zeroed, pointer-free memory added is not. If the object moves, the
    /// old address is freed at once: nothing may refer to it afterwards.
    ///
    /// - Parameters:
    ///   - address: The start of a GC object, or nil to allocate a scanned
    ///     one.
    ///   - byteCount: The new size in bytes, 0 or more.
    /// - Returns: The object's address now.
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` when the memory cannot
    ///   be had (the object is left as it was); ``GCError/invalidArgument(_:)``
    ///   for a negative size or an address that is not the start of a GC
    ///   object (nothing changes).
    ///
    /// The corresponding C function is `GC_realloc`.
    public static func unsafeReallocate(
        _ address: UnsafeMutableRawPointer?, byteCount: Int
    ) throws(GCError) -> UnsafeMutableRawPointer {
        guard let address else { return try unsafeAllocate(byteCount: byteCount) }
        guard byteCount >= 0 else { throw .invalidArgument("byteCount must not be negative, got \(byteCount)") }
        enterCollector()
        try checkObjectStart(address, "GC.unsafeReallocate")
        // GC_realloc frees the object at size 0; here 0 keeps the smallest.
        guard
            let moved = libgc_realloc(address, max(byteCount, 1))
                ?? HeapLimit.collectingOnce({ libgc_realloc(address, max(byteCount, 1)) })
        else { throw .outOfMemory(byteCount: byteCount) }
        return moved
    }

    /// Frees a GC object now, rather than at a collection.
    ///
    /// For objects whose last use is known (a buffer replaced, a block whose
    /// owner ended), which makes collections rarer. Nothing may refer to the
    /// object afterwards: not a root, not another object, not a stack.
    ///
    /// - Parameter address: The start of a GC object (collectable or
    ///   uncollectable).
    /// - Throws: ``GCError/invalidArgument(_:)`` if `address` is not the
    ///   start of a GC object (nothing is freed).
    ///
    /// The corresponding C function is `GC_free`.
    public static func unsafeFree(_ address: UnsafeMutableRawPointer) throws(GCError) {
        enterCollector()
        try checkObjectStart(address, "GC.unsafeFree")
        libgc_free(address)
    }
}
