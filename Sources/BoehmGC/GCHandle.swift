/// A strong reference to a GC object that lives in one place.
///
/// Like ``GCRoot``, a handle keeps its object alive while the handle exists,
/// in a root cell the collector scans. Unlike it, a handle is a noncopyable
/// value: no Swift object is allocated and nothing is reference-counted, so
/// making and dropping one is a push and a pop on a thread-local free list,
/// with no lock and no atomic operation. That is what lets a safe lookup
/// (``GCWeakTable/handle(forKey:)-(GCRoot)``) cost little more than an unsafe one.
/// Share the object by turning the handle into a ``GCRoot``
/// (``GCRoot/init(_:)``, which takes over the handle's cell).
///
/// ```swift
/// if let value = table.handle(forKey: key) {
///     value.withUnsafeMutableBytes { print($0.load(as: Int.self)) }
/// }   // the handle, and its hold on the value, end here
/// ```
public struct GCHandle: ~Copyable, @unchecked Sendable {
    // Taken in init and given back in deinit (or handed to a GCRoot); the
    // address it holds never changes in between, so sending the handle to
    // another thread is safe.
    private let cell: RootCells.Cell

    internal init(rooting object: UnsafeMutableRawPointer) {
        enterCollector()
        cell = RootCells.take(holding: object)
    }

    /// A handle to an object that is already on the GC heap, in a root cell of its own.
    ///
    /// - Parameter unsafeAddress: The start of a live GC object. The caller
    ///   must keep it reachable (on its stack, or stored in a reachable GC
    ///   object) until this initialiser returns.
    /// - Throws: ``GCError/invalidArgument(_:)`` if `unsafeAddress` is not
    ///   the start of a GC heap object.
    ///
    /// The corresponding C function is `GC_base` (the check).
    public init(unsafeAddress: UnsafeMutableRawPointer) throws(GCError) {
        enterCollector()
        try GC.checkObjectStart(unsafeAddress, "GCHandle(unsafeAddress:)")
        cell = RootCells.take(holding: unsafeAddress)
    }

    /// A handle to `root`'s object, in a root cell of its own.
    ///
    /// - Parameter root: The root whose object the handle keeps alive too.
    public init(_ root: GCRoot) {
        self.init(rooting: root.unsafeAddress)
        withExtendedLifetime(root) {}
    }

    deinit {
        RootCells.give(cell)
    }

    /// The cell, for a GCRoot to own from now on.
    internal consuming func takeCell() -> RootCells.Cell {
        let cell = self.cell
        discard self
        return cell
    }

    /// The object's address.
    ///
    /// The collector owns the memory; the address is valid while the handle
    /// exists.
    public var unsafeAddress: UnsafeMutableRawPointer { cell.pointee.unsafelyUnwrapped }

    /// The usable size of the object in bytes.
    ///
    /// The corresponding C function is `GC_size`.
    public var byteCount: Int { libgc_size(unsafeAddress) }

    /// Calls `body` with the object's bytes, read-only.
    ///
    /// The buffer covers ``byteCount`` bytes and is valid for the call only;
    /// do not let it escape.
    ///
    /// - Parameter body: A closure that reads the bytes.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: unsafeAddress, count: byteCount))
    }

    /// Calls `body` with the object's bytes.
    ///
    /// The buffer covers ``byteCount`` bytes and is valid for the call only;
    /// do not let it escape.
    ///
    /// - Parameter body: A closure that reads or writes the bytes.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: unsafeAddress, count: byteCount))
    }

    /// Whether both handles refer to the same object.
    ///
    /// - Parameter other: Another handle.
    /// - Returns: Whether the two addresses are equal.
    public func refersToSameObject(as other: borrowing GCHandle) -> Bool { unsafeAddress == other.unsafeAddress }

    /// Whether the handle and the root refer to the same object.
    ///
    /// - Parameter other: A root.
    /// - Returns: Whether the two addresses are equal.
    public func refersToSameObject(as other: GCRoot) -> Bool { unsafeAddress == other.unsafeAddress }
}
