/// Process-wide objects of the package's other modules (the ports' state),
/// made on first use inside the library's gate, under ``Runtime``'s
/// `making` lock: the runtime owns them.
///
/// A Swift lazy global would do, but for fork: a fork while another thread
/// is inside its initialisation leaves the child waiting for ever on it. The
/// gate makes a fork wait until the object is made; the slot is plain C
/// storage, zero at load, so it needs no initialisation of its own.
package enum ProcessWide {
    /// A slot (0 to 7; 1 holds ``Settings``).
    package struct Slot: Sendable {
        let index: Int32
        /// The ports' state (GCPorts).
        package static var ports: Slot { Slot(index: 0) }
    }

    /// The object in `slot`, made by `make` on first use (once, whichever
    /// thread gets there first) and kept for the life of the process.
    ///
    /// - Throws: What `make` throws; the slot stays empty then, and the next
    ///   call makes the object again.
    @inline(__always)
    package static func object<T: AnyObject & Sendable, E: Error>(
        in slot: Slot, make: () throws(E) -> T
    ) throws(E) -> T {
        if let object = shim_processWideLoad(slot.index) {
            return Unmanaged<T>.fromOpaque(object).takeUnretainedValue()
        }
        return try makeObject(in: slot, make: make)
    }

    /// The object in `slot` if it was made; nil before (making nothing).
    @inline(__always)
    package static func existingObject<T: AnyObject & Sendable>(in slot: Slot, as type: T.Type) -> T? {
        shim_processWideLoad(slot.index).map { Unmanaged<T>.fromOpaque($0).takeUnretainedValue() }
    }

    @inline(never)
    private static func makeObject<T: AnyObject & Sendable, E: Error>(
        in slot: Slot, make: () throws(E) -> T
    ) throws(E) -> T {
        enterCollector()
        return try Runtime.shared.making.withLock { _ throws(E) in
            if let object = shim_processWideLoad(slot.index) {
                return Unmanaged<T>.fromOpaque(object).takeUnretainedValue()
            }
            let object = try make()
            shim_processWideStore(slot.index, Unmanaged.passRetained(object).toOpaque())
            return object
        }
    }
}
