#if canImport(Glibc)
    import Glibc
#endif

/// The seed's table of open resources: a libgc disappearing link per
/// resource, and a vacuum that walks every slot for cleared links.
///
/// The design this project comes from kept its weak tables this way, and
/// vacuumed them from a post-GC hook driven by a resurrecting finalizer; a
/// ``ForeignResourceRegistry`` made with ``ForeignResourceRegistry/Design/disappearingLinks``
/// works the same, so the soak can measure what each of this project's
/// choices buys (its `seed` configuration). Each slot holds the resource's
/// key in a link cell (malloc'd memory, which the collector does not scan:
/// libgc clears the cell when the key becomes unreachable) and the
/// resource's record, or a placeholder, in a scanned uncollectable array
/// (which keeps it alive until the vacuum). Registering and removing take
/// libgc's allocation lock, and libgc collects before its link table grows
/// past 4,096 entries (and each time it doubles past that); every
/// collection walks the links, and every vacuum walks every slot.
///
/// `@unchecked Sendable`: every field is reached under `state`'s lock.
internal final class DisappearingLinkSlots: @unchecked Sendable {
    /// Slots per chunk; chunks never move (libgc holds the cells'
    /// addresses), so the table grows by chunks.
    static let chunkSize = 4_096

    struct Chunk {
        /// The link cells: a key, or nil once libgc cleared it (or the slot
        /// is free).
        let cells: UnsafeMutablePointer<UnsafeMutableRawPointer?>
        /// The records (or placeholders) of the slots in use: scanned,
        /// uncollectable.
        let values: UnsafeMutablePointer<UnsafeMutableRawPointer?>
        /// The key of each slot in use, as a number (not a pointer the
        /// collector would follow), to forget it when the link is cleared.
        let keys: UnsafeMutablePointer<UInt>
    }

    struct State {
        var chunks: [Chunk] = []
        var free: [Int] = []
        var slotOfKey: [UInt: Int] = [:]
        var used = 0
        var vacuums = 0
        var vacuumed = 0
        var vacuumNanoseconds: UInt64 = 0
        var lastVacuumNanoseconds: UInt64 = 0

        func cell(_ slot: Int) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
            chunks[slot / chunkSize].cells + slot % chunkSize
        }
        func value(_ slot: Int) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
            chunks[slot / chunkSize].values + slot % chunkSize
        }
        func key(_ slot: Int) -> UnsafeMutablePointer<UInt> { chunks[slot / chunkSize].keys + slot % chunkSize }
        var capacity: Int { chunks.count * chunkSize }

        /// Frees a slot whose link is gone (or was unregistered); returns
        /// its value.
        mutating func release(_ slot: Int) -> UnsafeMutableRawPointer? {
            let value = self.value(slot).pointee
            self.value(slot).pointee = nil
            cell(slot).pointee = nil
            // The key's address may belong to a newer slot by now.
            if slotOfKey[key(slot).pointee] == slot { slotOfKey.removeValue(forKey: key(slot).pointee) }
            free.append(slot)
            used -= 1
            return value
        }

        /// A slot whose key died: its link was cleared, its value is still
        /// held.
        func isDead(_ slot: Int) -> Bool { value(slot).pointee != nil && cell(slot).pointee == nil }
    }

    private let state = Lock(State())

    deinit {
        state.withLock { state in
            // libgc must not write into a cell once it is freed: any link
            // still registered (a removeAll that found no memory) goes first.
            for slot in 0..<state.capacity where state.cell(slot).pointee != nil {
                libgc_unregisterLink(state.cell(slot), long: false)
            }
            for chunk in state.chunks {
                free(chunk.cells)
                free(chunk.keys)
                libgc_free(UnsafeMutableRawPointer(chunk.values))
            }
        }
    }

    /// Adds a slot for `key` holding `value`, with a disappearing link to
    /// `key`.
    ///
    /// - Throws: ``GCError/outOfMemory(byteCount:)`` when a chunk or libgc's
    ///   link cannot be allocated (nothing is added).
    func register(_ value: UnsafeMutableRawPointer, key: UnsafeMutableRawPointer) throws(GCError) {
        let result: Result<Void, GCError> = state.withLock { state in
            // A key whose address was another's that died, before a vacuum
            // freed that one's slot (dead: its link is cleared), takes the
            // address over; the vacuum frees the old slot.
            let number = UInt(bitPattern: key)
            if state.free.isEmpty {
                guard let chunk = Self.makeChunk() else {
                    return .failure(.outOfMemory(byteCount: Self.chunkSize * 24))
                }
                let base = state.capacity
                state.chunks.append(chunk)
                state.free.append(contentsOf: (base..<(base + Self.chunkSize)).reversed())
            }
            let slot = state.free.removeLast()
            state.cell(slot).pointee = key
            guard libgc_registerLink(state.cell(slot), to: key, long: false) == libgc_success else {
                state.cell(slot).pointee = nil
                state.free.append(slot)
                return .failure(.outOfMemory(byteCount: 64))
            }
            state.value(slot).pointee = value
            state.key(slot).pointee = number
            state.slotOfKey[number] = slot
            state.used += 1
            return .success(())
        }
        try result.get()
    }

    /// Replaces the value of `key`'s slot; false if it has none.
    func replaceValue(_ value: UnsafeMutableRawPointer, forKey key: UnsafeMutableRawPointer) -> Bool {
        state.withLock { state in
            guard let slot = state.slotOfKey[UInt(bitPattern: key)] else { return false }
            state.value(slot).pointee = value
            return true
        }
    }

    /// Removes `key`'s slot and its link.
    func remove(key: UnsafeMutableRawPointer) {
        state.withLock { state in
            guard let slot = state.slotOfKey[UInt(bitPattern: key)] else { return }
            libgc_unregisterLink(state.cell(slot), long: false)
            _ = state.release(slot)
        }
    }

    /// Frees every slot whose link libgc cleared and hands their values to
    /// `deliver`, outside the lock.
    func vacuum(_ deliver: (UnsafeBufferPointer<UnsafeMutableRawPointer?>) -> Void) {
        let start = monotonicNanoseconds()
        let found = release(deliver) { state in (0..<state.capacity).filter { state.isDead($0) } }
        let elapsed = monotonicNanoseconds() - start
        state.withLock { state in
            state.lastVacuumNanoseconds = elapsed
            state.vacuumNanoseconds += elapsed
            if found > 0 {
                state.vacuums += 1
                state.vacuumed += found
            }
        }
    }

    /// Removes every slot, dead or alive, and hands every value to
    /// `deliver` (the registry's deinit).
    func removeAll(_ deliver: (UnsafeBufferPointer<UnsafeMutableRawPointer?>) -> Void) {
        _ = release(deliver, unregistering: true) { state in
            (0..<state.capacity).filter { state.value($0).pointee != nil }
        }
    }

    /// Calls `body` with the value of every slot whose key is alive, under
    /// the lock.
    func forEachLiveValue(_ body: (UnsafeMutableRawPointer) -> Void) {
        state.withLock { state in
            for slot in 0..<state.capacity where state.cell(slot).pointee != nil {
                if let value = state.value(slot).pointee { body(value) }
            }
        }
    }

    /// Slots in use (keys alive, and dead ones not yet vacuumed); slots;
    /// dead ones awaiting the vacuum; vacuums; entries vacuumed; vacuum time
    /// in all and last.
    var counts: (used: Int, capacity: Int, dead: Int, vacuums: Int, vacuumed: Int, time: UInt64, last: UInt64) {
        state.withLock { state in
            let dead = (0..<state.capacity).count { state.isDead($0) }
            return (
                state.used, state.capacity, dead, state.vacuums, state.vacuumed, state.vacuumNanoseconds,
                state.lastVacuumNanoseconds
            )
        }
    }

    /// Frees the slots `select` picks, under the lock (their links
    /// unregistered first when `unregistering`), and hands their values to
    /// `deliver` outside it; returns how many.
    ///
    /// The values go into a scanned GC block, allocated before any slot is
    /// freed, so each stays reachable from the slots or the block (a
    /// collection may run meanwhile). If the block cannot be had, nothing
    /// is freed: the next vacuum tries again.
    private func release(
        _ deliver: (UnsafeBufferPointer<UnsafeMutableRawPointer?>) -> Void, unregistering: Bool = false,
        slots select: (State) -> [Int]
    ) -> Int {
        var block: GCRoot? = nil
        var count = 0
        state.withLock { state in
            let slots = select(state)
            guard !slots.isEmpty, let kept = try? GCRoot(byteCount: slots.count * 8) else { return }
            let values = kept.unsafeAddress.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            for slot in slots {
                if unregistering && state.cell(slot).pointee != nil {
                    libgc_unregisterLink(state.cell(slot), long: false)
                }
                values[count] = state.release(slot)
                count += 1
            }
            block = kept
        }
        guard let block else { return 0 }
        deliver(
            UnsafeBufferPointer(
                start: block.unsafeAddress.assumingMemoryBound(to: UnsafeMutableRawPointer?.self), count: count))
        withExtendedLifetime(block) {}
        return count
    }

    private static func makeChunk() -> Chunk? {
        guard let cells = calloc(chunkSize, 8), let keys = calloc(chunkSize, 8) else { return nil }
        guard let values = libgc_mallocUncollectable(chunkSize * 8) else {
            free(cells)
            free(keys)
            return nil
        }
        return Chunk(
            cells: cells.assumingMemoryBound(to: UnsafeMutableRawPointer?.self),
            values: values.assumingMemoryBound(to: UnsafeMutableRawPointer?.self),
            keys: keys.assumingMemoryBound(to: UInt.self))
    }
}
