import Foundation
import GCPorts
import TestSupport
import Testing

/// transcode, the ports' end-to-end test: byte for byte what iconv(1)
/// writes, in both directions, at chunk sizes 1, 7 and 65536.
@Suite struct TranscodeTests {
    @Test(arguments: testedEncodings)
    func matchesIconvInBothDirections(encoding: String) throws {
        let tool = ChildProcess.path(of: "transcode")
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build transcode first: \(tool)")
        var random = SeededRandom(seed: 0x7C0DE ^ UInt64(encoding.utf8.reduce(0) { $0 &* 31 &+ Int($1) }))
        let text = try Repertoire.text(encoding, length: 1_500, using: &random)
        let utf8 = Array(text.utf8)
        let encoded = try iconv(utf8, from: "UTF-8", to: encoding)
        print(
            "\(encoding): \(text.unicodeScalars.count) scalars, \(utf8.count) bytes of UTF-8, \(encoded.count) encoded")
        let decoded = try iconv(encoded, from: encoding, to: "UTF-8")
        let utf8File = TemporaryFile(contents: utf8)
        let encodedFile = TemporaryFile(contents: encoded)
        for chunk in [1, 7, 65_536] {
            let forward = try run(
                tool, ["-f", "UTF-8", "-t", encoding, "--chunk", String(chunk), utf8File.path], input: [])
            #expect(forward.status == 0, "UTF-8 to \(encoding), chunk \(chunk): \(forward.error)")
            #expect(
                forward.output == encoded,
                "UTF-8 to \(encoding), chunk \(chunk): \(firstDifference(forward.output, encoded))")
            let backward = try run(
                tool, ["-f", encoding, "-t", "UTF-8", "--chunk", String(chunk), encodedFile.path], input: [])
            #expect(backward.status == 0, "\(encoding) to UTF-8, chunk \(chunk): \(backward.error)")
            #expect(
                backward.output == decoded,
                "\(encoding) to UTF-8, chunk \(chunk): \(firstDifference(backward.output, decoded))")
        }
    }

    @Test func invalidInputExitsWithItsOffset() throws {
        let tool = ChildProcess.path(of: "transcode")
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build transcode first: \(tool)")
        let bad: [UInt8] = Array("abc\n".utf8) + [0xE6, 0x97, 0xA5, 0xFF] + Array("z\n".utf8)
        for chunk in ["1", "3", "65536"] {
            let stopped = try run(tool, ["-f", "UTF-8", "-t", "UTF-16LE", "--chunk", chunk], input: bad)
            #expect(stopped.status == 1)
            #expect(stopped.error == "transcode: illegal input sequence at byte offset 7\n", "\(stopped.error)")
            // What came before the error was written.
            #expect(stopped.output == (try iconv(Array(bad[..<7]), from: "UTF-8", to: "UTF-16LE")))
        }
        let skipped = try run(tool, ["-c", "-f", "UTF-8", "-t", "ISO-8859-1"], input: bad)
        #expect(skipped.status == 0)
        #expect(skipped.output == (try iconv(bad, from: "UTF-8", to: "ISO-8859-1", extra: ["-c"])))
        let unencodable = try run(tool, ["-f", "UTF-8", "-t", "ISO-8859-1"], input: Array("a\nbc日".utf8))
        #expect(unencodable.status == 1)
        #expect(unencodable.error == "transcode: cannot convert U+65E5 to ISO-8859-1 at line 2, column 3\n")
        #expect(unencodable.output == Array("a\nbc".utf8))
        let unknown = try run(tool, ["-f", "NO-SUCH", "-t", "UTF-8"], input: [])
        #expect(unknown.status == 1 && unknown.error.contains("unsupported"), "\(unknown.error)")
        let badChunk = try run(tool, ["-f", "UTF-8", "-t", "UTF-8", "--chunk", String(Int.max)], input: [])
        #expect(badChunk.status != 0 && badChunk.error.contains("--chunk"), "\(badChunk.error)")
    }
}
