extension GCRoot {
    /// Attaches a finalizer to the object: `body` runs once, after the
    /// collector finds the object unreachable.
    ///
    /// It runs on the finalizer thread or at ``GC/runFinalizers()`` (see
    /// ``GC/FinalizerMode``), never inside an unrelated call. It receives a
    /// root to the object, which is still intact; keeping that root
    /// resurrects the object, which is then not finalized again unless a new
    /// finalizer is attached. Objects the finalized object points to are kept
    /// alive with it, but may have been finalized in the same round
    /// (libgc's no-order finalization, as Guile uses).
    ///
    /// `body` must not capture a root to the object itself (that root would
    /// keep it alive forever). Each finalizer is one entry in libgc's
    /// finalizer table, which forces a full collection before it grows past
    /// 4,096 entries: for many short-lived objects, prefer a
    /// ``GCWeakTable`` with `onDeadEntry` (see <doc:FinalizersAndPostGCHooks>).
    ///
    /// - Parameter body: The finalizer; it receives a root to the object.
    /// - Throws: ``GCError/finalizerAlreadySet`` if the object has one already
    ///   (libgc keeps one per object); it is left in place.
    ///
    /// The corresponding C function is `GC_register_finalizer_no_order`.
    public func setFinalizer(_ body: @escaping @Sendable (GCRoot) -> Void) throws(GCError) {
        enterCollector()
        let record = Unmanaged.passRetained(ClosureFinalizer(body))
        var old: UnsafeMutableRawPointer?
        let status = shim_registerFinalizer(unsafeAddress, record.toOpaque(), &old)
        if status == 0 { return }
        if status == 1, let previous = old {
            // Put the previous finalizer back; ours comes out in `old`.
            _ = shim_registerFinalizer(unsafeAddress, previous, &old)
        }
        record.release()
        throw .finalizerAlreadySet
    }

    /// Removes the object's finalizer, if it was set by ``setFinalizer(_:)``.
    ///
    /// A finalizer set by other code through libgc directly is left in place.
    ///
    /// - Returns: Whether a finalizer was removed.
    ///
    /// The corresponding C function is `GC_register_finalizer_no_order`
    /// (with a null finalizer).
    @discardableResult
    public func removeFinalizer() -> Bool {
        enterCollector()
        var old: UnsafeMutableRawPointer?
        guard shim_unregisterFinalizer(unsafeAddress, &old) == 1, let old else { return false }
        Unmanaged<ClosureFinalizer>.fromOpaque(old).release()
        return true
    }
}

/// A user finalizer: libgc holds it, retained, as the finalizer's client
/// data until it runs (once) or is removed.
internal final class ClosureFinalizer: Sendable {
    private let body: @Sendable (GCRoot) -> Void

    init(_ body: @escaping @Sendable (GCRoot) -> Void) {
        self.body = body
    }

    /// Runs on the finalizer thread or in GC.runFinalizers().
    func run(object: UnsafeMutableRawPointer) {
        body(GCRoot(rooting: object))
    }
}
