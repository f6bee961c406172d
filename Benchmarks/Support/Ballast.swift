import BoehmGC

/// A live GC heap of a given size, like a server's working set: a linked
/// list of scanned objects (each object's first word points to the one
/// allocated before it), held by one root.
public final class Ballast {
    /// Objects in the list.
    public let objectCount: Int
    private let head: GCRoot?

    /// Allocates `megabytes` MiB as objects of `objectBytes` bytes each, each
    /// a request of `requestBytes` to the collector.
    ///
    /// libgc adds one byte to every request (all-interior-pointers mode, the
    /// default here: see GC_all_interior_pointers in gc.h), so a 16-byte
    /// request takes a 32-byte object; 15 bytes take exactly 16.
    ///
    /// - Throws: `GCError.outOfMemory` when the heap limit stops it.
    public init(megabytes: Int, objectBytes: Int, requestBytes: Int) throws(GCError) {
        objectCount = megabytes * (1 << 20) / objectBytes
        // The list's head is on this (registered) thread's stack while it grows.
        var previous: UnsafeMutableRawPointer? = nil
        for _ in 0..<objectCount {
            let object = try GC.unsafeAllocate(byteCount: requestBytes, kind: .scanned)
            object.storeBytes(of: previous, as: UnsafeMutableRawPointer?.self)
            previous = object
        }
        head = previous.map { try! GCRoot(unsafeAddress: $0) }
    }
}
