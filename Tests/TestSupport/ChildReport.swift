import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What the child process of an exit test saw, handed to the parent
/// whatever the child's exit status.
///
/// When a child's exit status is not the expected one, Swift Testing gives
/// the parent nothing of it: no output, no figures. A report is a file the
/// parent makes and passes to the child in the exit test's capture list.
/// The child notes what it sees and checks its figures there, each line
/// written at once, so a crash or a hang loses nothing noted before it.
/// The parent passes ``comment`` as the expectation's comment: Swift
/// Testing reads it when it judges the exit status, after the child ended,
/// so the failure names the child's figures and the checks that failed.
///
/// ```swift
/// let report = ChildReport()
/// await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
///     let collections = countCollections()
///     report.check(collections == 100, "\(collections) collections, 100 expected")
///     report.exit()
/// }
/// report.show()
/// ```
///
/// The capture names the type (`as ChildReport`): the exit-test macro infers
/// a captured value's type only from parameters, literals and `as`. The
/// parent's report removes its file when it is released; the child's copy,
/// decoded from the capture list, leaves it alone.
package final class ChildReport: Codable, Sendable {
    /// The file the child writes and the parent reads.
    package let path: String
    /// Whether this is the parent's report, which made the file.
    private let ownsFile: Bool
    /// Checks that failed in this process.
    private let failures = Atomic<Int>(0)

    private static let made = Atomic<Int>(0)

    /// A new, empty report, in the parent.
    package init() {
        let serial = ChildReport.made.add(1, ordering: .relaxed).newValue
        path = "/tmp/gc-child-report-\(getpid())-\(serial)-\(UInt32.random(in: 0...UInt32.max))"
        ownsFile = true
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(path): errno \(errno)")
        close(fd)
    }

    private enum CodingKeys: CodingKey {
        case path
    }

    package init(from decoder: any Decoder) throws {
        path = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .path)
        ownsFile = false
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
    }

    deinit {
        if ownsFile { unlink(path) }
    }

    // MARK: In the child

    /// Adds `line` to the report at once.
    package func note(_ line: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            written += n
        }
    }

    /// Notes `what` (the figures the condition is about) as held or failed.
    package func check(_ condition: Bool, _ what: String) {
        note((condition ? "ok: " : "FAILED: ") + what)
        if !condition { failures.add(1, ordering: .relaxed) }
    }

    /// Notes `what` as failed and ends the child with exit status 1.
    package func fail(_ what: String) -> Never {
        check(false, what)
        self.exit()
    }

    /// Ends the child: exit status 0 if every check held, 1 otherwise.
    package func exit() -> Never {
        Glibc.exit(failures.load(ordering: .relaxed) == 0 ? 0 : 1)
    }

    // MARK: In the parent

    /// What the child noted so far.
    package var notes: String { String(decoding: readFile(path), as: UTF8.self) }

    /// The notes as an expectation's comment. Pass it unevaluated (as the
    /// macro's comment argument), so it is read after the child ended.
    package var comment: Comment {
        let notes = self.notes
        guard !notes.isEmpty else { return "the child noted nothing" }
        return Comment(rawValue: "the child noted:\n\(notes.dropLast())")
    }

    /// Prints the notes, so the log shows the child's figures when it
    /// passes too.
    package func show() {
        let notes = self.notes
        guard !notes.isEmpty else { return }
        print("child of \(Test.current?.name ?? "an exit test"):\n\(notes)", terminator: "")
    }
}
