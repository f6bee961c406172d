import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// glibc's iconv(1) failed.
package struct IconvFailure: Error, CustomStringConvertible {
    package var status: Int32
    package var message: String
    package var description: String { "iconv exited \(status): \(message)" }
}

/// Runs glibc's `/usr/bin/iconv -f from -t to` (and `extra` arguments) on
/// `input`: what the ports are compared with.
package func iconv(_ input: [UInt8], from: String, to: String, extra: [String] = []) throws -> [UInt8] {
    let outcome = try run("/usr/bin/iconv", ["-f", from, "-t", to] + extra, input: input)
    guard outcome.status == 0 else { throw IconvFailure(status: outcome.status, message: outcome.error) }
    return outcome.output
}

/// How a program run by ``run(_:_:input:)`` ended.
package struct ProcessOutcome {
    package var status: Int32
    package var output: [UInt8]
    package var error: String
}

/// Runs `path` with `arguments`, `input` on its standard input (from a
/// temporary file, so no pipe can fill up), and collects its output and
/// its standard error apart.
package func run(_ path: String, _ arguments: [String], input: [UInt8]) throws -> ProcessOutcome {
    let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent("gc-tests-in-\(UUID().uuidString)")
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
        error: String(decoding: errorData.value, as: UTF8.self))
}
