/// Errors thrown by the collector's Swift API.
///
/// Arguments out of range (a size, a slot outside an object, an address
/// that is not the start of a GC object) throw ``invalidArgument(_:)`` and
/// change nothing.
public enum GCError: Error, Equatable, Sendable {
    /// The collector could not provide `byteCount` bytes: the heap limit was
    /// reached even after a collection, or the system refused memory.
    ///
    /// Nothing already allocated is affected; drop data (or refuse the work)
    /// and try again. See <doc:MemoryPressure>.
    case outOfMemory(byteCount: Int)
    /// A setting that only takes effect before initialisation (or before the
    /// first use that seals it) was given afterwards.
    case alreadyInitialized
    /// The object already has a finalizer; libgc keeps one per object.
    case finalizerAlreadySet
    /// An argument was out of range; the message says which and why.
    case invalidArgument(String)
}

extension GCError: CustomStringConvertible {
    /// A sentence that names the error and, for
    /// ``outOfMemory(byteCount:)`` and ``invalidArgument(_:)``, its values.
    public var description: String {
        switch self {
        case .outOfMemory(let byteCount):
            return "GC heap exhausted allocating \(byteCount) bytes"
        case .alreadyInitialized:
            return
                "already in use: a configuration takes effect only before its first use (GC.configure before "
                + "the collector starts, ForeignMemory.configure before the first report, Ports.configure "
                + "before the first port)"
        case .finalizerAlreadySet:
            return "the object already has a finalizer (libgc keeps one per object)"
        case .invalidArgument(let message):
            return "invalid argument: \(message)"
        }
    }
}

extension GCError {
    /// Throws ``invalidArgument(_:)`` for the first of `values` that is
    /// given (not nil) and not positive, naming it.
    static func checkPositive(_ values: KeyValuePairs<String, Int?>) throws(GCError) {
        for (name, value) in values {
            if let value, value <= 0 { throw .invalidArgument("\(name) must be positive, got \(value)") }
        }
    }
}
