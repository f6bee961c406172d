import BoehmGC
import GCPorts
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A pipe whose write end a helper thread feeds in pieces of chosen sizes,
/// so every read(2) of the port returns at most one piece.
final class PiecewisePipe: @unchecked Sendable {
    let readEnd: Int32
    private let writeEnd: Int32
    private var thread = pthread_t()

    init(_ bytes: [UInt8], pieces: [Int]) {
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0)
        readEnd = ends[0]
        writeEnd = ends[1]
        let box = Unmanaged.passRetained(Feed(bytes: bytes, pieces: pieces, descriptor: writeEnd))
        pthread_create(
            &thread, nil,
            { raw in
                let feed = Unmanaged<Feed>.fromOpaque(raw!).takeRetainedValue()
                feed.run()
                return nil
            }, box.toOpaque())
    }

    func join() { pthread_join(thread, nil) }

    private final class Feed {
        let bytes: [UInt8]
        let pieces: [Int]
        let descriptor: Int32

        init(bytes: [UInt8], pieces: [Int], descriptor: Int32) {
            self.bytes = bytes
            self.pieces = pieces
            self.descriptor = descriptor
        }

        func run() {
            var offset = 0
            var piece = 0
            while offset < bytes.count {
                let size = min(max(1, pieces[piece % pieces.count]), bytes.count - offset)
                piece += 1
                _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, size) }
                offset += size
                usleep(200)  // let the reader take this piece alone
            }
            close(descriptor)
        }
    }
}

/// Opens an input port over a file, reads a line and drops the port
/// unclosed, in a frame of its own.
@inline(never)
func openAndDropInputPort(descriptor: Int32) throws {
    let port = try InputPort.openFile(descriptor: descriptor, encoding: "ISO-8859-15", closesDescriptor: true)
    _ = try port.readLine()
    scrubStack()
}

@Suite struct InputPortTests {
    static let latin9: [UInt8] = [0x31, 0x30, 0x20, 0xA4, 0x0A, 0x6C, 0xE9, 0x0D, 0x0A, 0x7A]  // "10 €\nlé\r\nz"

    @Test func readsLinesCharactersAndEverything() throws {
        let lines = try withInputFromBytes(Self.latin9, encoding: "ISO-8859-15") { port throws in
            Array(port.lines)
        }
        #expect(lines == ["10 €", "lé", "z"])
        try withInputFromBytes(Self.latin9, encoding: "ISO-8859-15") { port throws in
            #expect(try port.peekCharacter() == "1")
            #expect(try port.readCharacter() == "1")
            #expect(try port.read(count: 3) == "0 €")
            #expect(try port.readLine() == "")
            #expect(try port.read(count: 3) == "lé\r\n")  // "\r\n" is one Character
            #expect(try port.readAll() == "z")
            #expect(try port.readAll() == "")
            #expect(try port.readLine() == nil)
            #expect(try port.readCharacter() == nil)
            #expect(try port.peekCharacter() == nil)
            #expect(try port.readAvailable() == nil)
        }
    }

    @Test func countsLinesAndColumnsAsGuileDoes() throws {
        try withInputFromBytes(Array("ab\tc\né日\r\n😀x".utf8), encoding: "UTF-8") { port throws in
            #expect(port.line == 0 && port.column == 0)
            _ = try port.read(count: 4)
            #expect(port.line == 0 && port.column == 9)
            _ = try port.readLine()
            #expect(port.line == 1 && port.column == 0)
            _ = try port.read(count: 2)
            #expect(port.line == 1 && port.column == 2)
            _ = try port.readAll()
            #expect(port.line == 2 && port.column == 2, "line \(port.line) column \(port.column)")
        }
    }

    // A byte-order mark sets the byte order and is not text.
    @Test(arguments: [
        ("UTF-16", [0xFE, 0xFF, 0x00, 0x61, 0x00, 0x62] as [UInt8]),
        ("UTF-16", [0xFF, 0xFE, 0x61, 0x00, 0x62, 0x00]),
        ("UTF-32", [0x00, 0x00, 0xFE, 0xFF, 0x00, 0x00, 0x00, 0x61, 0x00, 0x00, 0x00, 0x62]),
        ("UTF-32", [0xFF, 0xFE, 0x00, 0x00, 0x61, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00]),
    ])
    func aByteOrderMarkIsHonouredAndNotReturned(encoding: String, bytes: [UInt8]) throws {
        for capacity in [1, 3, 64] {
            let text = try InputPort.openBytes(bytes, encoding: encoding, bufferCapacity: capacity).readAll()
            #expect(text == "ab", "\(encoding) \(hex(bytes)) in blocks of \(capacity): \(text.debugDescription)")
        }
        // Ports opened one after another each find their own mark (pooled
        // decoders do not keep the byte order of the last one).
        let big = try InputPort.openBytes([0xFE, 0xFF, 0x00, 0x61], encoding: "UTF-16").readAll()
        let little = try InputPort.openBytes([0xFF, 0xFE, 0x61, 0x00], encoding: "UTF-16").readAll()
        #expect(big == "a" && little == "a")
    }

    @Test func invalidInputIsAnErrorWithItsOffsetOrAReplacement() throws {
        let bad: [UInt8] = [0x61, 0x62, 0xFF, 0x63, 0xE2, 0x82]  // a b, invalid byte, c, truncated €
        let port = try InputPort.openBytes(bad, encoding: "UTF-8", bufferCapacity: 1)
        #expect(throws: PortError.invalidInput(byteOffset: 2)) { try port.readAll() }
        #expect(throws: PortError.invalidInput(byteOffset: 2)) { try port.readLine() }
        #expect(try port.read(count: 5) == "ab")  // the text before it is kept
        #expect(throws: PortError.invalidInput(byteOffset: 2)) { try port.read(count: 1) }
        #expect(throws: PortError.invalidInput(byteOffset: 2)) { try port.readAvailable() }
        port.close()

        let replaced = try InputPort.openBytes(bad, encoding: "UTF-8", invalidInput: .replacementCharacter).readAll()
        #expect(replaced == "ab\u{FFFD}c\u{FFFD}", "\(replaced.unicodeScalars.map { $0.value })")
        let skipped = try InputPort.openBytes(bad, encoding: "UTF-8", invalidInput: .skip).readAll()
        #expect(skipped == "abc")

        // An incomplete sequence at the end of the input.
        let truncated = try InputPort.openBytes([0x61, 0x81, 0x40, 0x81], encoding: "SHIFT_JIS")
        #expect(try truncated.read(count: 2) == "a\u{3000}")
        #expect(throws: PortError.invalidInput(byteOffset: 3)) { try truncated.readCharacter() }
        // A lone UTF-16 surrogate is skipped as one code unit (2 bytes).
        let surrogate = try InputPort.openBytes(
            [0x61, 0x00, 0x00, 0xD8, 0x62, 0x00], encoding: "UTF-16LE", invalidInput: .replacementCharacter)
        #expect(try surrogate.readAll() == "a\u{FFFD}b")
    }

    // A character split between two reads of the descriptor is decoded
    // once, whatever the split.
    @Test func aCharacterSplitAcrossReadsIsDecodedOnce() throws {
        let text = "a€日😀é\u{301}\r\nz"
        for (encoding, pieces) in [("UTF-8", [1]), ("UTF-8", [2, 3]), ("UTF-16", [1, 2, 3]), ("GB18030", [3, 1])] {
            let bytes = try iconv(Array(text.utf8), from: "UTF-8", to: encoding)
            let feed = PiecewisePipe(bytes, pieces: pieces)
            let port = try InputPort.openFile(
                descriptor: feed.readEnd, encoding: encoding, closesDescriptor: true, bufferCapacity: 4096)
            var characters: [Character] = []
            while let character = try port.readCharacter() { characters.append(character) }
            port.close()
            feed.join()
            #expect(String(characters) == text, "\(encoding) in pieces \(pieces): \(characters)")
            #expect(characters.count == text.count)  // é + U+0301 is one character
        }
    }

    @Test func theLinesSequenceStopsAtAnError() throws {
        let port = try InputPort.openBytes([0x61, 0x0A, 0x62, 0xFF, 0x0A], encoding: "UTF-8")
        let lines = port.lines
        var seen: [String] = []
        for line in lines { seen.append(line) }
        #expect(seen == ["a"])
        #expect(lines.error == .invalidInput(byteOffset: 3))
        #expect(throws: PortError.invalidInput(byteOffset: 3)) { try port.readLine() }
    }

    @Test func closedPortsThrowAndOwnedDescriptorsAreClosed() throws {
        let file = TemporaryFile()
        _ = Self.latin9.withUnsafeBytes { write(file.descriptor, $0.baseAddress, $0.count) }
        let fd = open(file.path, O_RDONLY)
        let port = try InputPort.openFile(descriptor: fd, encoding: "ISO-8859-15", closesDescriptor: true)
        #expect(try port.readLine() == "10 €")
        port.close()
        port.close()
        #expect(port.isClosed)
        #expect(fcntl(fd, F_GETFD) == -1)
        #expect(throws: PortError.closed) { try port.readLine() }
    }

    // A dropped input port's descriptor is closed when the collector finds
    // the port.
    @Test func aDroppedPortsDescriptorIsClosedWhenCollected() throws {
        let file = TemporaryFile()
        _ = Self.latin9.withUnsafeBytes { write(file.descriptor, $0.baseAddress, $0.count) }
        let fd = open(file.path, O_RDONLY)
        try openAndDropInputPort(descriptor: fd)
        var rounds = 0
        while fcntl(fd, F_GETFD) != -1 && rounds < 20 {
            GC.collect()
            GC.runFinalizers()
            Ports.vacuum()
            rounds += 1
        }
        #expect(fcntl(fd, F_GETFD) == -1, "descriptor \(fd) still open after \(rounds) collections")
    }

    @Test func aScopedPortIsClosedWhenTheBodyReturnsOrThrows() throws {
        struct Stop: Error {}
        let seen = Mutex<InputPort?>(nil)
        #expect(throws: Stop.self) {
            try withInputFromBytes([0x61], encoding: "UTF-8") { port in
                seen.withLock { $0 = port }
                throw Stop()
            }
        }
        #expect(seen.withLock { $0?.isClosed } == true)
    }

    @Test func concurrentReadersGetWholeLines() async throws {
        let lines = (0..<4_000).map { "line \($0) é日" }
        let bytes = try iconv(Array((lines.joined(separator: "\n") + "\n").utf8), from: "UTF-8", to: "EUC-JP")
        let port = try InputPort.openBytes(bytes, encoding: "EUC-JP", bufferCapacity: 13)
        let read = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var mine: [String] = []
                    while let line = try? port.readLine() { mine.append(line) }
                    return mine
                }
            }
            var all: [String] = []
            for await some in group { all += some }
            return all
        }
        #expect(read.count == lines.count && Set(read) == Set(lines), "\(read.count) lines read of \(lines.count)")
        #expect(port.line == lines.count)
        port.close()
    }

    @Test func longLinesAndLargeReadsCrossManyBlocks() throws {
        let line = String(repeating: "é日x", count: 5_000)
        let bytes = Array((line + "\n" + line).utf8)
        let port = try InputPort.openBytes(bytes, encoding: "UTF-8", bufferCapacity: 7)
        #expect(try port.readLine() == line)
        #expect(try port.read(count: 14_999) == String(line.dropLast()))
        #expect(try port.readAll() == "x")
        #expect(port.line == 1 && port.column == 15_000)
    }
}

/// UTF-8 ports validate and copy instead of calling iconv: they must find
/// the same errors at the same offsets as glibc's UTF-8 converter.
@Suite struct UTF8ValidationTests {
    @Test func utf8IsValidatedAsGlibcDoes() throws {
        var random = SeededRandom(seed: 8)
        let pieces: [[UInt8]] = [
            Array("a€日😀é".utf8), [0xC0, 0xAF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF0, 0x9F], [0xE2, 0x82], [0x80], [0xFF], [0xC2], Array("plain ascii".utf8),
        ]
        var disagreements: [String] = []
        for _ in 0..<60 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bytes += pieces[Int.random(in: 0..<pieces.count, using: &random)]
            }
            let glibc = try run("/usr/bin/iconv", ["-f", "UTF-8", "-t", "UTF-16LE"], input: bytes)
            var glibcOffset: Int?
            if glibc.status != 0 {
                if let range = glibc.error.range(of: "position ") {
                    glibcOffset = Int(glibc.error[range.upperBound...].prefix { $0.isNumber })
                } else {
                    // "incomplete character or shift sequence at end of buffer"
                    glibcOffset = bytes.count - UTF8TailLength.of(bytes)
                }
            }
            // Input port, in blocks of 1 to 4 bytes; output port, one write.
            let blocks = Int.random(in: 1...4, using: &random)
            let portOffset = try Self.inputErrorOffset(bytes, blocks: blocks)
            let writeOffset = try Self.outputErrorOffset(bytes)
            if portOffset != glibcOffset || writeOffset != glibcOffset {
                disagreements.append(
                    "\(hex(bytes)): iconv \(String(describing: glibcOffset)), input port "
                        + "\(String(describing: portOffset)), output port \(String(describing: writeOffset))")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5).joined(separator: "\n"))")
    }

    /// Where an input port reading `bytes` finds invalid input.
    static func inputErrorOffset(_ bytes: [UInt8], blocks: Int) throws -> Int? {
        let port = try InputPort.openBytes(bytes, encoding: "UTF-8", bufferCapacity: blocks)
        defer { port.close() }
        do {
            _ = try port.readAll()
            return nil
        } catch {
            guard case .invalidInput(let offset) = error else { throw error }
            return offset
        }
    }

    /// Where an output port writing `bytes` (then closing) finds invalid
    /// input.
    static func outputErrorOffset(_ bytes: [UInt8]) throws -> Int? {
        let port = try OutputPort.openString(encoding: "UTF-8")
        defer { try? port.close() }
        do {
            try bytes.withUnsafeBytes { try port.write(utf8Bytes: $0) }
            try port.close()
            return nil
        } catch let error as PortError {
            guard case .invalidInput(let offset) = error else { throw error }
            return offset
        }
    }
}

/// The length of an incomplete UTF-8 sequence that ends `bytes`.
enum UTF8TailLength {
    static func of(_ bytes: [UInt8]) -> Int {
        for back in 1...min(3, bytes.count) where bytes[bytes.count - back] & 0xC0 != 0x80 {
            return back
        }
        return 0
    }
}
