import Synchronization

/// A setting that may change until its first use seals it.
///
/// The collector's start-up configuration, the accounting's policy and the
/// ports' settings are such settings. After sealing, a change throws
/// ``GCError/alreadyInitialized``.
package final class SealedSetting<Value: Sendable>: Sendable {
    private struct State: Sendable {
        var value: Value
        var sealed = false
    }
    private let state: Lock<State>

    package init(_ initial: Value) {
        state = Lock(State(value: initial))
    }

    /// Replaces the value, unless it is sealed.
    package func set(_ value: Value) throws(GCError) {
        let accepted = state.withLock { state in
            if state.sealed { return false }
            state.value = value
            return true
        }
        if !accepted { throw .alreadyInitialized }
    }

    /// Returns the value and refuses any later change.
    package func seal() -> Value {
        state.withLock { state in
            state.sealed = true
            return state.value
        }
    }

    package var isSealed: Bool { state.withLock { $0.sealed } }

    /// The value now, sealed or not (reading it seals nothing).
    package var value: Value { state.withLock { $0.value } }
}

/// The settings a program may change before their first use: the one owner
/// of every such setting of the package.
///
/// - ``collector``: ``GC/Configuration``, sealed when ``Runtime`` starts
///   the collector.
/// - ``accounting``: ``ForeignMemory/Configuration``, sealed at the first
///   report (the accountant is made then), not at the start.
/// - Settings of the package's other modules (the ports' configuration),
///   kept here through ``setting(for:initial:)`` and sealed by their module.
///
/// They exist before the collector starts, so ``Runtime`` cannot hold them.
/// Not a Swift lazy global either (a fork while another thread is inside its
/// initialisation leaves the child waiting for ever on it): the object is
/// made inside the library's gate (a fork waits for it) and published by a
/// compare-and-swap into a slot of the C shim, zero at load.
package final class Settings: Sendable {
    /// The collector's start-up configuration.
    let collector = SealedSetting(GC.Configuration())
    /// The foreign-memory accounting's configuration.
    let accounting = SealedSetting(ForeignMemory.Configuration())
    /// Other modules' settings, by slot index.
    private let modules = Lock<[Int32: AnyObject]>([:])

    private init() {}

    /// The settings: one load once made.
    @inline(__always)
    package static var shared: Settings {
        if let object = shim_processWideLoad(slot) {
            return Unmanaged<Settings>.fromOpaque(object).takeUnretainedValue()
        }
        return make()
    }

    /// The C slot (of ``ProcessWide``'s) that holds the settings.
    private static var slot: Int32 { 1 }

    @inline(never)
    private static func make() -> Settings {
        withinLibraryGate {
            let made = Unmanaged.passRetained(Settings())
            let winner = shim_processWideInstall(slot, made.toOpaque())
            if winner != made.toOpaque() { made.release() }
            return Unmanaged<Settings>.fromOpaque(winner).takeUnretainedValue()
        }
    }

    /// The setting of another module in `slot`, made with `initial` on first
    /// use; its module seals it.
    package func setting<Value: Sendable>(
        for slot: ProcessWide.Slot, initial: @autoclosure () -> Value
    ) -> SealedSetting<Value> {
        modules.withLock { modules in
            if let existing = modules[slot.index] { return unsafeDowncast(existing, to: SealedSetting<Value>.self) }
            let made = SealedSetting(initial())
            modules[slot.index] = made
            return made
        }
    }
}
