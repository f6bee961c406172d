import BenchmarkSupport
import Subprocess

/// What a child process reported (its ``ChildRecord`` lines) and how it
/// ended.
public struct ChildOutput: Sendable {
    public var samples: [Sample] = []
    /// The fields of its `result` record.
    public var fields: [String: String] = [:]
    /// Why the run failed: its `error` record, a failed start, an exit
    /// status other than 0, a signal, the time limit, or no `result` record;
    /// nil when it did not fail.
    public var error: String?

    public init() {}

    mutating func apply(_ record: ChildRecord) {
        switch record {
        case .sample(let sample): samples.append(sample)
        case .result(let pairs): for (key, value) in pairs { fields[key] = value }
        case .error(let message): error = message
        }
    }
}

/// Runs `command` (an executable's path, then its arguments) and reads its
/// records until it exits.
///
/// - Parameters:
///   - quietStandardError: discard the child's standard error (otherwise it
///     is ours).
///   - timeLimit: kill the child (SIGKILL) after this long: a hung run must
///     not hang CI. `nil` for none.
///   - onSample: called with the output so far after each sample (progress).
public func runChild(
    _ command: [String], quietStandardError: Bool = false, timeLimit: Duration? = nil,
    onSample: (ChildOutput) -> Void = { _ in }
) async -> ChildOutput {
    var output = ChildOutput()
    do {
        let killed =
            quietStandardError
            ? try await run(command, error: .discarded, timeLimit: timeLimit, into: &output, onSample: onSample)
            : try await run(
                command, error: .currentStandardError, timeLimit: timeLimit, into: &output, onSample: onSample)
        if killed { output.error = "killed after the time limit (\(fixed((timeLimit?.nanoseconds ?? 0) / 1e9, 0)) s)" }
    } catch {
        output.error = "cannot run \(command[0]): \(error)"
    }
    if output.error == nil && output.fields.isEmpty { output.error = "no result record" }
    return output
}

/// Runs the child; returns whether the time limit killed it.
private func run(
    _ command: [String], error: some ErrorOutputProtocol, timeLimit: Duration?, into output: inout ChildOutput,
    onSample: (ChildOutput) -> Void
) async throws -> Bool {
    let result = try await Subprocess.run(
        .path(.init(command[0])), arguments: .init(Array(command.dropFirst())), input: .none, output: .sequence,
        error: error
    ) { execution in
        try await withThrowingTaskGroup(of: Bool.self) { group in
            if let timeLimit {
                group.addTask {
                    guard (try? await Task.sleep(for: timeLimit)) != nil else { return false }
                    try? execution.send(signal: .kill)
                    return true
                }
            }
            for try await line in execution.standardOutput.strings() {
                guard let record = ChildRecord(line: line) else { continue }
                output.apply(record)
                if case .sample = record { onSample(output) }
            }
            group.cancelAll()
            return try await group.contains(true)
        }
    }
    switch result.terminationStatus {
    case _ where result.closureResult: break
    case .exited(let code) where code != 0 && output.error == nil: output.error = "exited with status \(code)"
    case .signaled(let signal) where output.error == nil: output.error = "killed by signal \(signal)"
    default: break
    }
    return result.closureResult
}

/// Runs a tool (`command`: its path, then its arguments), its output
/// discarded and its standard error ours; returns why it failed, or nil.
public func runTool(_ command: [String]) async -> String? {
    do {
        let result = try await Subprocess.run(
            .path(.init(command[0])), arguments: .init(Array(command.dropFirst())), output: .discarded,
            error: .currentStandardError)
        return result.terminationStatus.isSuccess ? nil : "\(result.terminationStatus)"
    } catch {
        return "cannot run \(command[0]): \(error)"
    }
}
