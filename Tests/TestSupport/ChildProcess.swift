import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one of the package's helper executables, which SwiftPM builds next
/// to the test bundle (`swift build --build-tests` builds every target), as
/// a child process. Tests that need a process of their own (exact
/// process-wide counts, a heap limit, a shape that may crash) use it.
package enum ChildProcess {
    package struct Outcome: CustomStringConvertible {
        /// The exit status, or nil if the child was killed by a signal.
        package var exitStatus: Int32?
        package var signal: Int32?
        /// Whether the child outlived its deadline and was killed.
        package var timedOut: Bool
        package var output: String
        /// The fields of the child's `result {...}` line.
        package var result: [String: Any]

        package func int(_ key: String) -> Int { (result[key] as? NSNumber)?.intValue ?? -1 }

        package var succeeded: Bool { exitStatus == 0 && !timedOut }

        /// "exit 0", "signal 11", "hung (killed at its deadline)".
        package var summary: String {
            if timedOut { return "hung (killed at its deadline)" }
            if let signal { return "signal \(signal)" }
            return "exit \(exitStatus ?? -1)"
        }

        /// The summary and the end of the output, for failure messages.
        package var description: String {
            "\(summary); output:\n\(output.suffix(2_000))"
        }
    }

    package static func path(of executable: String) -> String {
        let variable = executable.uppercased().replacingOccurrences(of: "-", with: "_")
        if let path = ProcessInfo.processInfo.environment[variable] { return path }
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return bundle.deletingLastPathComponent().appendingPathComponent(executable).path
    }

    /// Runs `executable` with `arguments` and waits for it without blocking
    /// a thread of the test runner's pool; kills it (SIGKILL) after
    /// `timeout`. Standard output and error are collected together, as they
    /// come. `environment` adds to (or replaces in) the test's own.
    package static func run(
        _ executable: String, _ arguments: [String], timeout: Duration = .seconds(120), quiet: Bool = false,
        environment extra: [String: String] = [:]
    ) async throws -> Outcome {
        let path = path(of: executable)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(executable) is missing at \(path): build it with `swift build --build-tests`")
            throw CancellationError()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        // A crash is an outcome here, not news: no backtrace in the log.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        // Read as the output comes, not to the end of the pipe afterwards: a
        // grandchild left behind (a forked child that hung) would hold the
        // pipe open, and the read would never end.
        let collected = Locked<[UInt8]>([])
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            collected.withLock { $0 += data }
        }
        let killed = Locked(false)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            process.terminationHandler = { _ in done.resume() }
            do {
                try process.run()
            } catch {
                Issue.record("cannot start \(path): \(error)")
                done.resume()
                return
            }
            let pid = process.processIdentifier
            Task.detached {
                try? await Task.sleep(for: timeout)
                if process.isRunning {
                    killed.withLock { $0 = true }
                    // The child's process group too: Foundation sees the
                    // child's end only once every process holding the socket
                    // it gave the child has exited, and a grandchild (a
                    // forked child that hangs) holds it as well as the pipe.
                    kill(-pid, SIGKILL)
                    kill(pid, SIGKILL)
                }
            }
        }
        // What the child wrote last may still be in the pipe.
        try? await Task.sleep(for: .milliseconds(50))
        pipe.fileHandleForReading.readabilityHandler = nil
        let output = String(decoding: collected.value, as: UTF8.self)
        var result: [String: Any] = [:]
        if let line = output.split(separator: "\n").last(where: { $0.hasPrefix("result ") }),
            let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any]
        {
            result = object
        }
        if !quiet {
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            let shown = lines.count > 30 ? lines.prefix(30).joined(separator: "\n") + "\n[…]\n" : output
            print("\(executable) \(arguments.joined(separator: " ")):\n\(shown)", terminator: "")
        }
        let exited = process.terminationReason == .exit
        return Outcome(
            exitStatus: exited ? process.terminationStatus : nil,
            signal: exited ? nil : process.terminationStatus, timedOut: killed.value, output: output,
            result: result)
    }
}

extension ChildProcess {
    /// Runs `executable arguments` `runs` times, two at a time, and records
    /// an issue unless every run exited 0 in time: a crash, a failed check
    /// or a hang counts as a failure. Prints the tally of outcomes and, on
    /// failure, the output of the first failed run.
    ///
    /// - Returns: The outcomes, for checks on the children's results.
    @discardableResult
    package static func runRepeatedly(
        _ executable: String, _ arguments: [String], runs: Int, timeout: Duration = .seconds(90),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for _ in 0..<((runs + 1) / 2) {
            async let first = run(executable, arguments, timeout: timeout, quiet: true)
            if outcomes.count + 1 < runs {
                async let second = run(executable, arguments, timeout: timeout, quiet: true)
                outcomes += [try await first, try await second]
            } else {
                outcomes.append(try await first)
            }
        }
        let failures = outcomes.filter { !$0.succeeded }
        let tally = Dictionary(grouping: outcomes.map(\.summary), by: { $0 }).mapValues(\.count)
        print("\(executable) \(arguments.joined(separator: " ")): \(runs) runs, \(failures.count) failed, \(tally)")
        #expect(
            failures.isEmpty,
            "\(failures.count) of \(runs) runs failed: \(tally); first failure's output:\n\(failures.first?.output.suffix(2_000) ?? "")",
            sourceLocation: sourceLocation)
        return outcomes
    }
}

/// The heap-limit and memory-pressure tests' child (`Tests/PressureChild`).
package enum PressureChild {
    package static func run(_ arguments: [String]) async throws -> ChildProcess.Outcome {
        try await ChildProcess.run("gc-pressure-child", arguments)
    }
}
