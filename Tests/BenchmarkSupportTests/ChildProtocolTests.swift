import BenchmarkSupport
import Testing

/// The line protocol between the benchmark drivers and their children (the
/// Guile peer writes the same records), and the children's command lines.
@Suite struct ChildProtocolTests {
    @Test func recordsReadBack() throws {
        let sample = try #require(ChildRecord(line: "sample 64 0.25 12345678"))
        guard case .sample(let read) = sample else {
            Issue.record("not a sample: \(sample.line)")
            return
        }
        #expect(read == Sample(ports: 64, seconds: 0.25, rssBytes: 12_345_678))
        #expect(sample.line == "sample 64 0.25 12345678")

        let line = "result ports=10 seconds=0.5 policy=either:count:1000,interval:50ms"
        let result = try #require(ChildRecord(line: line))
        guard case .result(let fields) = result else {
            Issue.record("not a result: \(result.line)")
            return
        }
        #expect(fields.map(\.key) == ["ports", "seconds", "policy"])
        #expect(fields.last?.value == "either:count:1000,interval:50ms")
        #expect(result.line == line)

        let error = try #require(ChildRecord(line: "error open /dev/null: Too many open files"))
        guard case .error(let message) = error else {
            Issue.record("not an error: \(error.line)")
            return
        }
        #expect(message == "open /dev/null: Too many open files")
    }

    @Test(arguments: ["", "sample 1 2", "sample x 0.1 5", "progress 1 2 3", "RESULT a=1"])
    func otherLinesAreNoRecords(_ line: String) {
        #expect(ChildRecord(line: line) == nil, "\(line) read as \(ChildRecord(line: line)?.line ?? "")")
    }

    @Test func childArguments() throws {
        let arguments = try ChildArguments(
            ["both", "--ballast", "64", "--converters", "per-port", "--tiny", "--duration", "0.3"], flags: ["tiny"])
        #expect(arguments.positional == ["both"])
        #expect(try arguments.int("ballast", 0, minimum: 0) == 64)
        #expect(try arguments.double("duration", 0) == 0.3)
        #expect(try arguments.int("iterations", 7) == 7)
        #expect(arguments.string("converters") == "per-port")
        #expect(arguments.flag("tiny"))
        #expect(!arguments.flag("quiet"))
        #expect(throws: UsageError.self) { try ChildArguments(["mode", "--ballast"]) }
        #expect(throws: UsageError.self) { try ChildArguments(["mode", "--ballast", "1", "stray"]) }
        #expect(throws: UsageError.self) { try ChildArguments(["--ballast", "0"]).int("ballast", 1) }
    }
}
