import Foundation
import Testing

/// glibc's iconv(1), run as a subprocess: what the ports are compared with.
struct IconvFailure: Error, CustomStringConvertible {
    var status: Int32
    var message: String
    var description: String { "iconv exited \(status): \(message)" }
}

/// Runs `/usr/bin/iconv -f from -t to` (and `extra` arguments) on `input`.
func iconv(_ input: [UInt8], from: String, to: String, extra: [String] = []) throws -> [UInt8] {
    let outcome = try run("/usr/bin/iconv", ["-f", from, "-t", to] + extra, input: input)
    guard outcome.status == 0 else { throw IconvFailure(status: outcome.status, message: outcome.error) }
    return outcome.output
}

struct ProcessOutcome {
    var status: Int32
    var output: [UInt8]
    var error: String
}

/// Runs `path` with `arguments`, `input` on its standard input (from a
/// temporary file, so no pipe can fill up), and collects its output.
func run(_ path: String, _ arguments: [String], input: [UInt8]) throws -> ProcessOutcome {
    let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent("gcports-in-\(UUID().uuidString)")
    try Data(input).write(to: inputURL)
    defer { try? FileManager.default.removeItem(at: inputURL) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardInput = try FileHandle(forReadingFrom: inputURL)
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read both to the end before waiting: a child blocked on a full pipe
    // would never exit.
    let errorData = Locked(Data())
    let errorReader = Thread { errorData.withLock { $0 = error.fileHandleForReading.readDataToEndOfFile() } }
    errorReader.start()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while errorReader.isExecuting || !errorReader.isFinished { usleep(1_000) }
    return ProcessOutcome(
        status: process.terminationStatus, output: [UInt8](outputData),
        error: String(decoding: errorData.withLock { $0 }, as: UTF8.self))
}

/// A value behind a lock, for the tests' helper threads.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) {
        self.value = value
    }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
