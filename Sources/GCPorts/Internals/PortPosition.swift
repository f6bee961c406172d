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
/// One atomic double word. Only the thread holding the port's lock stores it
/// (each read or write moves the position once, after its text); any thread
/// may load it, and gets a line and a column stored together.
internal struct AtomicPortPosition: ~Copyable, Sendable {
    private let word = Atomic<WordPair>(WordPair(first: 0, second: 0))

    init() {}

    /// The position last stored.
    func load() -> PortPosition {
        let word = self.word.load(ordering: .relaxed)
        return PortPosition(line: Int(bitPattern: word.first), column: Int(bitPattern: word.second))
    }

    /// Stores `position`; only under the port's lock.
    func store(_ position: PortPosition) {
        word.store(
            WordPair(first: UInt(bitPattern: position.line), second: UInt(bitPattern: position.column)),
            ordering: .relaxed)
    }
}
