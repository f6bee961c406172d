import BoehmGC
import GCPorts
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Opens a file port on `path`, writes `text` and drops the port unclosed,
/// in a frame of its own.
@inline(never)
func writeAndDropFilePort(path: String, encoding: String, text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let port = try OutputPort.openFile(descriptor: fd, encoding: encoding, closesDescriptor: true)
    try port.write(text)
    scrubStack()
}

/// Output ports of stateful encodings (ISO-2022-JP, UTF-7, UTF-16 with a
/// byte-order mark) end in the initial state on every path (close, the
/// flush at process exit, the collector's release), write replacements in
/// a state where they are valid, and a rejected write changes nothing.
@Suite struct StatefulOutputTests {
    static let jisNichi: [UInt8] = [0x1B, 0x24, 0x42, 0x46, 0x7C]  // ESC $ B, then 日
    static let toASCII: [UInt8] = [0x1B, 0x28, 0x42]  // ESC ( B

    // The flush at process exit ends the output as close does: a file
    // left in the JIS X 0208 shift state (or inside a UTF-7 run) would not
    // read back as the text written.
    @Test(arguments: [
        ("ISO-2022-JP", jisNichi + toASCII),
        ("UTF-7", Array("+ZeU-".utf8)),
        ("UTF-16", [0xFF, 0xFE, 0xE5, 0x65]),
    ])
    func exitEndsTheOutputInTheInitialState(encoding: String, expected: [UInt8]) async {
        let file = TemporaryFile()
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) {
            [encoding, path = file.path as String, report = report as ChildReport] in
            let fd = open(path, O_WRONLY | O_TRUNC)
            guard fd >= 0 else { report.fail("open \(path): errno \(errno)") }
            let port = try! OutputPort.openFile(descriptor: fd, encoding: encoding)
            try! port.write("日")
            report.note("wrote 日 to a \(encoding) file port; exiting with the port open")
            withExtendedLifetime(port) { report.exit() }
        }
        let written = file.contents
        #expect(written == expected, "\(encoding) at exit: \(hex(written)), expected \(hex(expected))")
    }

    // A rejected write changes nothing: the converter's state and the
    // output stay as they were, so "b" comes out in ASCII, not in the JIS
    // X 0208 state 日 left.
    @Test func aRejectedWriteChangesNothing() throws {
        let port = try OutputPort.openString(encoding: "ISO-2022-JP")
        try port.write("日")
        #expect(throws: PortError.invalidInput(byteOffset: 0)) {
            try [UInt8]([0xFF]).withUnsafeBytes { try port.write(utf8Bytes: $0) }
        }
        #expect(throws: PortError.invalidInput(byteOffset: 1)) { try port.write("a한b") }  // no Hangul in JIS
        try port.write("b")
        let bytes = try port.contents()
        let expected = Self.jisNichi + Self.toASCII + [0x62]
        #expect(bytes == expected, "got \(hex(bytes)), expected \(hex(expected))")
        #expect(port.column == 2, "column \(port.column): the rejected writes must move nothing")
        try port.close()
    }

    // The same for the other kinds of state: a byte-order mark (written by
    // the first write, even a rejected one) and a UTF-7 run.
    @Test(arguments: ["UTF-16", "UTF-32", "UTF-7", "ISO-2022-KR"])
    func aRejectedWriteChangesNothingWhateverTheState(encoding: String) throws {
        let port = try OutputPort.openString(encoding: encoding)
        let invalid: [UInt8] = [0x61, 0xFF]
        #expect(throws: PortError.invalidInput(byteOffset: 1)) {
            try invalid.withUnsafeBytes { try port.write(utf8Bytes: $0) }
        }
        try port.write("a한")
        #expect(throws: PortError.invalidInput(byteOffset: 1)) {
            try invalid.withUnsafeBytes { try port.write(utf8Bytes: $0) }
        }
        try port.write("b")
        let bytes = try port.contents()
        let expected = try iconv(Array("a한b".utf8), from: "UTF-8", to: encoding)
        #expect(bytes == expected, "\(encoding): got \(hex(bytes)), iconv gives \(hex(expected))")
        try port.close()
    }

    // An empty name is unknown (iconv_open would take it for the locale's
    // charset).
    @Test func anEmptyEncodingNameIsUnknown() throws {
        #expect(throws: PortError.unknownEncoding("")) { _ = try OutputPort.openString(encoding: "") }
        #expect(throws: PortError.unknownEncoding("")) { _ = try OutputPort.openFile(descriptor: 1, encoding: "") }
        #expect(throws: PortError.unknownEncoding("")) { _ = try InputPort.openBytes([], encoding: "") }
        #expect(throws: PortError.unknownEncoding("")) { _ = try InputPort.openFile(descriptor: 0, encoding: "") }
        #expect(throws: PortError.unknownEncoding("UTF-8\u{0}X")) {
            _ = try OutputPort.openString(encoding: "UTF-8\u{0}X")
        }
    }

    // ISO-2022-KR writes a header at its converter's first call after the
    // output was ended, so the output must be ended once only.
    @Test(arguments: ["ISO-2022-JP", "UTF-7", "UTF-16", "ISO-2022-KR"])
    func closeEndsTheOutputInTheInitialState(encoding: String) throws {
        let file = TemporaryFile()
        let port = try OutputPort.openFile(descriptor: file.descriptor, encoding: encoding)
        try port.write("a日")
        try port.flush()
        let flushed = file.contents
        try port.close()
        try port.close()
        let closed = file.contents
        let expected = try iconv(Array("a日".utf8), from: "UTF-8", to: encoding)
        #expect(
            closed == expected, "\(encoding): flushed \(hex(flushed)), closed \(hex(closed)), iconv \(hex(expected))")
    }

    // The collector releasing a dropped port ends its output too.
    @Test func aDroppedPortEndsInTheInitialState() throws {
        let path = "/tmp/gcports-dropped-state-\(getpid())"
        defer { unlink(path) }
        try writeAndDropFilePort(path: path, encoding: "ISO-2022-JP", text: "a日")
        var rounds = 0
        while readFile(path).isEmpty && rounds < 20 {
            GC.collect()
            GC.runFinalizers()
            Ports.vacuum()
            rounds += 1
        }
        let written = readFile(path)
        let expected = [0x61] + Self.jisNichi + Self.toASCII
        #expect(written == expected, "after \(rounds) collections: \(hex(written)), expected \(hex(expected))")
    }

    // "?" after 日 needs the shift back to ASCII first.
    @Test func aReplacementIsWrittenInAStateWhereItIsValid() throws {
        let bytes = try withOutputToString(encoding: "ISO-2022-JP", invalidInput: .replace(with: "?")) {
            try $0.write("日한日")
        }
        let expected = try iconv(Array("日?日".utf8), from: "UTF-8", to: "ISO-2022-JP")
        #expect(bytes == expected, "got \(hex(bytes)), iconv gives \(hex(expected))")
        // A replacement as the very first output of UTF-16 comes after the
        // byte-order mark, and there is one mark.
        let utf16 = try withOutputToString(encoding: "UTF-16", invalidInput: .replace(with: "?")) { port in
            try [UInt8]([0xFF]).withUnsafeBytes { try port.write(utf8Bytes: $0) }
            try port.write("a")
        }
        #expect(utf16 == [0xFF, 0xFE, 0x3F, 0x00, 0x61, 0x00], "got \(hex(utf16))")
    }

    @Test func anIncompleteSequenceIsHeldUntilTheNextWrite() throws {
        let bytes = try withOutputToString(encoding: "ISO-2022-JP") { port in
            for byte: UInt8 in [0x61, 0xE6, 0x97, 0xA5, 0x62] {  // a 日 b, one byte per write
                try [byte].withUnsafeBytes { try port.write(utf8Bytes: $0) }
            }
        }
        let expected = [0x61] + Self.jisNichi + Self.toASCII + [0x62]
        #expect(bytes == expected, "got \(hex(bytes))")

        // Still incomplete at close: the policy decides.
        let port = try OutputPort.openString(encoding: "ISO-8859-15")
        try [UInt8]([0x61, 0xE2, 0x82]).withUnsafeBytes { try port.write(utf8Bytes: $0) }
        #expect(try port.contents() == [0x61])  // held, not written
        #expect(throws: PortError.invalidInput(byteOffset: 1)) { try port.close() }
        #expect(port.isClosed)
        let replaced = try withOutputToString(encoding: "ISO-8859-15", invalidInput: .replace(with: "?")) { port in
            try [UInt8]([0x61, 0xE2, 0x82]).withUnsafeBytes { try port.write(utf8Bytes: $0) }
        }
        #expect(replaced == [0x61, 0x3F])
        // Held bytes that the next write shows invalid: offset 0, dropped.
        let next = try OutputPort.openString(encoding: "ISO-8859-15")
        try [UInt8]([0xE2]).withUnsafeBytes { try next.write(utf8Bytes: $0) }
        #expect(throws: PortError.invalidInput(byteOffset: 0)) { try next.write("b") }
        try next.write("b")
        #expect(try next.contents() == [0x62])
        try next.close()
    }

    // contents() ends a string port's output in mid-stream; later writes go
    // on without a second byte-order mark.
    @Test func contentsInMidStreamWritesOneByteOrderMark() throws {
        let port = try OutputPort.openString(encoding: "UTF-16")
        try port.write("a")
        #expect(try port.contents() == [0xFF, 0xFE, 0x61, 0x00])
        try port.write("b")
        #expect(try port.contents() == [0xFF, 0xFE, 0x61, 0x00, 0x62, 0x00])
        try port.close()
        // One ISO-2022-KR header, however often the output is ended.
        let korean = try OutputPort.openString(encoding: "ISO-2022-KR")
        #expect(try korean.contents() == [])
        try korean.write("a한")
        let first = try korean.contents()
        #expect(try korean.contents() == first)
        try korean.write("b")
        let expected = try iconv(Array("a한".utf8), from: "UTF-8", to: "ISO-2022-KR") + [0x62]
        let bytes = try korean.contents()
        #expect(bytes == expected, "got \(hex(bytes)), expected \(hex(expected))")
        try korean.close()
    }

    @Test func linesAndColumnsCountAsGuileDoes() throws {
        let port = try OutputPort.openString(encoding: "UTF-8")
        #expect(port.line == 0 && port.column == 0)
        try port.write("ab\tc")  // tab to 8, then c
        #expect(port.line == 0 && port.column == 9)
        try port.write("é日😀\n x\r y\u{8}")
        #expect(port.line == 1 && port.column == 1, "line \(port.line) column \(port.column)")
        try port.close()
    }

    @Test func numericArgumentsAreChecked() throws {
        for capacity in [0, -1, Int.max, (1 << 30) + 1] {
            #expect(throws: PortError.self) {
                _ = try OutputPort.openFile(descriptor: 1, encoding: "UTF-8", bufferCapacity: capacity)
            }
            #expect(throws: PortError.self) {
                _ = try InputPort.openFile(descriptor: 0, encoding: "UTF-8", bufferCapacity: capacity)
            }
        }
        #expect(throws: PortError.invalidArgument("descriptor -1 is negative")) {
            _ = try OutputPort.openFile(descriptor: -1, encoding: "UTF-8")
        }
        let port = try InputPort.openBytes([0x61], encoding: "UTF-8")
        #expect(throws: PortError.invalidArgument("count -1 is negative")) { _ = try port.read(count: -1) }
        #expect(try port.read(count: Int.max) == "a")
    }
}
