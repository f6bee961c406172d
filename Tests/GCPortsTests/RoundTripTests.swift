import Foundation
import GCPorts
import TestSupport
import Testing

/// Splits `bytes` into random pieces of 0 to 9 bytes (UTF-8 characters are
/// split too).
func randomPieces(_ bytes: [UInt8], using random: inout SeededRandom) -> [[UInt8]] {
    var pieces: [[UInt8]] = []
    var offset = 0
    while offset < bytes.count {
        let size = min(Int.random(in: 0...9, using: &random), bytes.count - offset)
        pieces.append(Array(bytes[offset..<(offset + size)]))
        offset += size
    }
    return pieces
}

/// The lines `readLine` gives for `utf8`: split at line feeds, a carriage
/// return before one dropped (a last line without a line feed keeps its
/// carriage return), no empty last line.
func expectedLines(_ utf8: [UInt8]) -> [String] {
    let segments = utf8.split(separator: 0x0A, omittingEmptySubsequences: false)
    var lines = segments.enumerated().map { index, line in
        let terminated = index < segments.count - 1
        return String(decoding: terminated && line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
    }
    if utf8.isEmpty || utf8.last == 0x0A { lines.removeLast() }
    return lines
}

/// One failure of the round trip, with what it saw.
struct RoundTripFailure: CustomStringConvertible {
    var description: String
}

/// Random text `encoding` can represent, written through output ports in
/// random pieces and read back through input ports in random blocks and
/// with random reads, compared with what iconv(1) writes and reads.
func roundTrip(_ encoding: String, seed: UInt64, cases: Int) throws -> [RoundTripFailure] {
    var random = SeededRandom(seed: seed)
    var failures: [RoundTripFailure] = []
    func check(_ ok: Bool, _ message: @autoclosure () -> String) {
        if !ok { failures.append(RoundTripFailure(description: "\(encoding), seed \(seed): \(message())")) }
    }
    for index in 0..<cases {
        let length = [0, 1, 3, 20, 80, 300][index % 6]
        let text = try Repertoire.text(encoding, length: length, using: &random)
        let utf8 = Array(text.utf8)
        let expected = try iconv(utf8, from: "UTF-8", to: encoding)
        let decoded = try iconv(expected, from: encoding, to: "UTF-8")
        check(decoded == utf8, "iconv(1) does not read back \(text.debugDescription)")

        // A string port, written in random pieces.
        let pieces = randomPieces(utf8, using: &random)
        let written = try withOutputToString(encoding: encoding) { port in
            for piece in pieces { try piece.withUnsafeBytes { try port.write(utf8Bytes: $0) } }
        }
        check(written == expected, "string port, pieces \(pieces.map(\.count)): \(firstDifference(written, expected))")

        // A file port with a random buffer, flushed now and then (a flush
        // does not change the output).
        let file = TemporaryFile()
        let capacity = Int.random(in: 1...64, using: &random)
        let filePort = try OutputPort.openFile(
            descriptor: file.descriptor, encoding: encoding, bufferCapacity: capacity)
        for piece in randomPieces(utf8, using: &random) {
            try piece.withUnsafeBytes { try filePort.write(utf8Bytes: $0) }
            if Int.random(in: 0..<4, using: &random) == 0 { try filePort.flush() }
        }
        try filePort.close()
        check(file.contents == expected, "file port, buffer \(capacity): \(firstDifference(file.contents, expected))")

        // A bytes port in random blocks, read with random reads: the
        // characters come back whole, as many as Swift counts.
        let blocks = Int.random(in: 1...17, using: &random)
        let port = try InputPort.openBytes(expected, encoding: encoding, bufferCapacity: blocks)
        var readBack = ""
        var characters = 0
        reading: while true {
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                guard let character = try port.readCharacter() else { break reading }
                readBack.append(character)
                characters += 1
            case 1:
                let wanted = Int.random(in: 1...9, using: &random)
                let some = try port.read(count: wanted)
                if some.isEmpty { break reading }
                check(some.count <= wanted, "read(count: \(wanted)) gave \(some.count)")
                readBack += some
                characters += some.count
            default:
                let peeked = try port.peekCharacter()
                let next = try port.readCharacter()
                check(peeked == next, "peek \(String(describing: peeked)), read \(String(describing: next))")
                guard let next else { break reading }
                readBack.append(next)
                characters += 1
            }
        }
        check(readBack == text, "bytes port, blocks of \(blocks): read \(readBack.debugDescription)")
        check(characters == text.count, "bytes port, blocks of \(blocks): \(characters) characters of \(text.count)")
        let newlines = utf8.filter { $0 == 0x0A }.count
        check(port.line == newlines, "line \(port.line) after \(newlines) newlines")
        port.close()

        // A file, lines and blocks.
        let input = TemporaryFile()
        _ = expected.withUnsafeBytes { write(input.descriptor, $0.baseAddress, $0.count) }
        let reader = try InputPort.openFile(
            descriptor: open(input.path, O_RDONLY), encoding: encoding, closesDescriptor: true, bufferCapacity: blocks)
        let lines = Array(reader.lines)
        check(lines == expectedLines(utf8), "lines \(lines) against \(expectedLines(utf8))")
        reader.close()
        let whole = try withInputFromFile(
            descriptor: input.descriptor, encoding: encoding, bufferCapacity: Int.random(in: 1...9, using: &random)
        ) { port in
            lseek(input.descriptor, 0, SEEK_SET)
            var all = ""
            while let some = try port.readAvailable() { all += some }
            return all
        }
        check(whole == text, "readAvailable: \(whole.debugDescription)")
    }
    return failures
}

/// The seed: `GCPORTS_SEED` in the environment repeats a run.
func roundTripSeed(_ encoding: String) -> UInt64 {
    let base = ProcessInfo.processInfo.environment["GCPORTS_SEED"].flatMap { UInt64($0) } ?? 20_261_129
    return base ^ UInt64(truncatingIfNeeded: encoding.utf8.reduce(5_381) { $0 &* 33 &+ Int($1) })
}

@Suite struct RoundTripTests {
    @Test(arguments: testedEncodings)
    func randomTextRoundTripsAsIconvSays(encoding: String) throws {
        let seed = roundTripSeed(encoding)
        let failures = try roundTrip(encoding, seed: seed, cases: 12)
        let repertoire = try Repertoire.of(encoding)
        print("\(encoding): seed \(seed), \(repertoire.count) characters in the repertoire, \(failures.count) failures")
        for failure in failures.prefix(5) { Issue.record("\(failure)") }
    }

    // The same with one converter per port (the process-wide setting, so in
    // a child process), for the stateful encodings and one stateless one.
    @Test func randomTextRoundTripsWithAConverterPerPort() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! Ports.configure(.init(converters: .perPort))
            for encoding in ["UTF-16", "UTF-7", "ISO-2022-JP", "SHIFT_JIS"] {
                let failures = try! roundTrip(encoding, seed: roundTripSeed(encoding), cases: 6)
                report.check(failures.isEmpty, "\(encoding): \(failures.count) failures")
                for failure in failures.prefix(5) { report.note("\(failure)") }
            }
            report.exit()
        }
        report.show()
    }
}
