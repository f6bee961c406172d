/// A value of a bitwise-copyable type (a C struct, an integer, a tuple or a
/// Swift struct of them) held in an object on the GC heap.
///
/// The typed view of a ``GCRoot``: the box allocates an object of the
/// value's size and reads and writes it as a `Value`, so no byte offsets
/// are computed by hand. Copies of a box share one object (the root), which
/// stays alive while any copy does.
///
/// A value that holds addresses of GC objects (a C struct with pointer
/// fields) must live in a ``GCMemoryKind/scanned`` box, so that the objects
/// it points to stay alive with it; a plain value can live in a
/// ``GCMemoryKind/pointerFree`` one (the default), which the collector
/// never scans.
///
/// ```swift
/// struct Point: BitwiseCopyable { var x: Double; var y: Double }
/// let box = try GCBox(Point(x: 1, y: 2))
/// box.value.x += 1                       // read and written in place
/// let node = try GCBox(node_t(), kind: .scanned)     // a C struct with GC pointers
/// node.withUnsafeMutablePointer { $0.pointee.next = other.unsafeAddress }
/// ```
public struct GCBox<Value: BitwiseCopyable> {
    /// The root that holds the box's object.
    ///
    /// Store it in other GC objects (``GCRoot/setReference(_:at:)``) or pass
    /// it to APIs that take a root.
    public let root: GCRoot

    /// Allocates an object for `value` and stores it there.
    ///
    /// The object is `MemoryLayout<Value>.size` bytes.
    ///
    /// - Parameters:
    ///   - value: The value to hold.
    ///   - kind: Whether the collector scans the value for pointers
    ///     (``GCMemoryKind/scanned`` for a value that holds GC addresses).
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` when the heap limit is
    ///   reached or the system refuses memory;
    ///   ``GCError/invalidArgument(_:)`` if `Value` needs more than 16-byte
    ///   alignment (libgc aligns objects to 16 bytes).
    ///
    /// The corresponding C functions are `GC_malloc` and `GC_malloc_atomic`.
    public init(_ value: Value, kind: GCMemoryKind = .pointerFree) throws(GCError) {
        try Self.checkAlignment()
        root = try GCRoot(byteCount: MemoryLayout<Value>.size, kind: kind)
        root.unsafeAddress.storeBytes(of: value, as: Value.self)
    }

    /// A typed view of an object that already exists.
    ///
    /// - Parameter root: The object to view; the box shares it.
    /// - Throws: ``GCError/invalidArgument(_:)`` if the object holds fewer
    ///   than `MemoryLayout<Value>.size` bytes, or `Value` needs more than
    ///   16-byte alignment.
    public init(viewing root: GCRoot) throws(GCError) {
        try Self.checkAlignment()
        guard root.byteCount >= MemoryLayout<Value>.size else {
            throw .invalidArgument("a \(root.byteCount)-byte object cannot hold a \(Value.self)")
        }
        self.root = root
    }

    /// Checks that libgc's 16-byte alignment suits `Value`.
    private static func checkAlignment() throws(GCError) {
        guard MemoryLayout<Value>.alignment <= 16 else {
            throw .invalidArgument("GC objects are 16-byte aligned; \(Value.self) needs more")
        }
    }

    /// The value, read and written in place.
    ///
    /// The setter is `nonmutating`: every copy of the box sees the change.
    public var value: Value {
        get { root.unsafeAddress.load(as: Value.self) }
        nonmutating set { root.unsafeAddress.storeBytes(of: newValue, as: Value.self) }
    }

    /// Calls `body` with a pointer to the value.
    ///
    /// The collector owns the memory; the pointer is valid for the call
    /// only (the box's object is kept alive until `body` returns).
    ///
    /// - Parameter body: A closure that reads or writes the value in place.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeMutablePointer<R, E: Error>(
        _ body: (UnsafeMutablePointer<Value>) throws(E) -> R
    ) throws(E) -> R {
        let result = try body(root.unsafeAddress.assumingMemoryBound(to: Value.self))
        withExtendedLifetime(root) {}
        return result
    }
}
