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
