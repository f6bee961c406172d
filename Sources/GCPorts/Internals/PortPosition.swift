import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A port's line and column, as Guile's `port-line` and `port-column` count
/// them: both from 0; a newline starts the next line at column 0, a
/// carriage return goes back to column 0, a tab moves to the next multiple of
/// 8, a backspace moves back one column (not before 0), a bell does not move,
/// and every other Unicode scalar moves one column.
internal struct PortPosition: Equatable {
    var line = 0
    var column = 0

    /// Moves over the UTF-8 text `bytes`.
    mutating func advance(over bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let pointer = base.assumingMemoryBound(to: UInt8.self)
        let count = bytes.count
        // Lines: one per newline. The column only depends on what follows
        // the last newline or carriage return.
        var from = 0
        var index = 0
        while index < count {
            guard let hit = memchr(pointer + index, 0x0A, count - index) else { break }
            line += 1
            index = UnsafeRawPointer(hit) - base + 1
            from = index
        }
        if from > 0 { column = 0 }
        var scan = from
        while scan < count {
            let byte = pointer[scan]
            switch byte {
            case 0x0D: column = 0
            case 0x09: column += 8 - column % 8
            case 0x08: if column > 0 { column -= 1 }
            case 0x07: break
            default: if byte & 0xC0 != 0x80 { column += 1 }
            }
            scan += 1
        }
    }
}

/// A port's position where it can be read without the port's lock.
///
/// A sequence lock over two words: only the thread holding the port's lock
/// stores it (each read or write moves the position once, after its text);
/// any thread may load it, and gets a line and a column stored together.
/// Three words aligned to 8 bytes, so it lives in a port's record after an
/// 8-byte header (a double-word atomic would need 16).
internal struct AtomicPortPosition: ~Copyable, Sendable {
    /// Even when no store is under way; a store makes it odd, then even.
    private let version = Atomic<UInt>(0)
    private let line = Atomic<Int>(0)
    private let column = Atomic<Int>(0)

    init() {}

    /// The position last stored.
    func load() -> PortPosition {
        while true {
            let before = version.load(ordering: .acquiring)
            if before & 1 != 0 {
                // A store is a few instructions long; its thread may have
                // been preempted in the middle.
                sched_yield()
                continue
            }
            let position = PortPosition(
                line: line.load(ordering: .relaxed), column: column.load(ordering: .relaxed))
            atomicMemoryFence(ordering: .acquiring)
            if version.load(ordering: .relaxed) == before { return position }
        }
    }

    /// Stores `position`; only under the port's lock (one writer at a time).
    func store(_ position: PortPosition) {
        let before = version.load(ordering: .relaxed)
        version.store(before &+ 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        line.store(position.line, ordering: .relaxed)
        column.store(position.column, ordering: .relaxed)
        version.store(before &+ 2, ordering: .releasing)
    }
}
