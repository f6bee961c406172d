import Foundation
import Testing

/// Rules of the house that no compiler checks, read from the Sources tree.
///
/// One owner for process-wide state: a stored `static let`/`static var` or
/// a top-level `let`/`var` is a lazy global (swift_once, which a fork can
/// copy in progress, leaving the child waiting for ever), so each mutable
/// global lives in `Runtime` (or what it holds), each pre-start setting in
/// `Settings`; an immutable one is computed (`static var x: T { ... }`).
/// Plain literal constants (numbers, operators on numbers, string literals)
/// need no initialisation at run time and are fine anywhere. And one place
/// creates threads: `BackgroundThreads`, which restarts them in a forked
/// child.
@Suite struct HouseRulesTests {
    /// Files allowed to hold stored statics with any initializer, and why.
    static var stateOwners: [String: String] {
        [
            "Sources/BoehmGC/Internals/Runtime.swift":
                "the owner of the library's process-wide state, made under a C lock that fork takes",
            "Sources/BoehmGC/Internals/Settings.swift":
                "the owner of the pre-start settings, published by compare-and-swap into a C slot",
            "Sources/BoehmGC/Internals/ProcessWide.swift":
                "the C slots of the other modules' process-wide objects, made under the runtime's lock",
        ]
    }

    /// The one file allowed to create threads.
    static var threadOwner: String { "Sources/BoehmGC/Internals/BackgroundThreads.swift" }

    /// The package root, from this file's path (Tests/BoehmGCTests/...).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    @Test func processWideStateAndThreadsHaveOneOwner() throws {
        let root = Self.packageRoot
        let sources = root.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path))
            .compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
            .sorted()
        #expect(files.count > 50, "found only \(files.count) Swift files under \(sources.path)")
        var violations: [String] = []
        for file in files {
            let path = "Sources/" + file
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            violations += HouseRules.violations(in: text, path: path)
        }
        // One issue per violation, naming its file, line and rule.
        for violation in violations { Issue.record("\(violation)") }
    }

    /// The checker itself: it finds each kind of violation, and passes what
    /// the rules allow.
    @Test func checkerFindsEachKindOfViolation() {
        let source = #"""
            import Synchronization
            let table = Lock<[Int]>([])
            var counter = 0
            let limit = 8 << 20
            let name = "gc"
            private var computed: Int { 3 }
            enum State {
                static let cache = Atomic<Int>(0)
                nonisolated(unsafe) static var list: [Int32] = []
                static let size = 1 << 16
                static let rule: StaticString = """
                    a long "rule"
                    """
                static var shared: Int { 4 }
                func run() {
                    let local = [1, 2]
                    // pthread_create(&thread, nil, body, nil) in a comment
                    pthread_create(&thread, nil, body, nil)
                    _ = "Thread(" + "startDetachedThread"
                }
            }
            """#
        let found = HouseRules.violations(in: source, path: "Sources/X/Sample.swift")
        #expect(found.count == 5, "\n\(found.joined(separator: "\n"))")
        #expect(found.contains { $0.hasPrefix("Sources/X/Sample.swift:2: ") })
        #expect(found.contains { $0.hasPrefix("Sources/X/Sample.swift:3: ") })
        #expect(found.contains { $0.hasPrefix("Sources/X/Sample.swift:8: ") })
        #expect(found.contains { $0.hasPrefix("Sources/X/Sample.swift:9: ") })
        #expect(found.contains { $0.hasPrefix("Sources/X/Sample.swift:18: ") && $0.contains("thread") })
        #expect(HouseRules.violations(in: source, path: Self.threadOwner).count == 4)
        #expect(HouseRules.violations(in: source, path: "Sources/BoehmGC/Internals/Runtime.swift").count == 1)
    }
}

/// The line scanner behind ``HouseRulesTests``.
enum HouseRules {
    static var globalRule: String {
        "a stored static or top-level let/var whose initializer is not a plain literal constant is a lazy "
            + "global (swift_once, which a fork can copy in progress): keep the state in Runtime (or Settings "
            + "before the start), or make it computed"
    }
    static var threadRule: String {
        "threads are created only by BackgroundThreads (\(HouseRulesTests.threadOwner)), which restarts them "
            + "in a forked child"
    }

    /// Every violation in `text`, as "path:line: rule: the line".
    static func violations(in text: String, path: String) -> [String] {
        let patterns = Patterns()
        let mayHoldState = HouseRulesTests.stateOwners[path] != nil
        let mayCreateThreads = path == HouseRulesTests.threadOwner
        var scanner = Scanner()
        var found: [String] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let depth = scanner.depth
            let code = scanner.code(of: String(line))
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !mayHoldState, patterns.isUnownedGlobal(code, topLevel: depth == 0) {
                found.append("\(path):\(index + 1): \(globalRule): \(trimmed)")
            }
            if !mayCreateThreads, createsThread(code) {
                found.append("\(path):\(index + 1): \(threadRule): \(trimmed)")
            }
        }
        return found
    }

    private struct Patterns {
        /// A declaration: attributes and modifiers, `static`, `let`/`var`,
        /// the name, then the rest (type annotation, initializer or
        /// accessors).
        let declaration = try! NSRegularExpression(
            pattern: #"^\s*(?:@[\w.]+(?:\([^)]*\))?\s+)*"#
                + #"(?:(?:public|package|internal|private|fileprivate|open|final|nonisolated)(?:\([a-z]+\))?\s+)*"#
                + #"(static\s+)?(let|var)\s+[`\w]+\s*(.*)$"#)

        /// Tokens a plain literal constant is made of.
        let literalToken = try! NSRegularExpression(
            pattern: #"^(?:\s+|0x[0-9a-fA-F_]+|0b[01_]+|0o[0-7_]+|[0-9][0-9_]*(?:\.[0-9_]+)?(?:[eE][-+]?[0-9]+)?"#
                + #"|true|false|"""|""|<<|>>|\.\.\.|\.\.<|[-+*/%&|^~()])"#)

        func isUnownedGlobal(_ code: String, topLevel: Bool) -> Bool {
            let range = NSRange(code.startIndex..., in: code)
            guard let match = declaration.firstMatch(in: code, range: range) else { return false }
            let isStatic = match.range(at: 1).location != NSNotFound
            guard isStatic || topLevel else { return false }
            let keyword = String(code[Range(match.range(at: 2), in: code)!])
            var rest = Substring(code[Range(match.range(at: 3), in: code)!])
            // A type annotation runs to the initializer or the accessors.
            if rest.hasPrefix(":") { rest = rest.drop { $0 != "=" && $0 != "{" } }
            if rest.hasPrefix("{") { return false }  // computed
            guard rest.hasPrefix("=") else { return keyword == "var" }  // stored var without initializer
            if keyword == "var" { return true }  // mutable: state, whatever its initializer
            return !isPlainLiteral(rest.dropFirst())
        }

        func isPlainLiteral(_ initializer: Substring) -> Bool {
            var rest = String(initializer).trimmingCharacters(in: .whitespaces)
            guard !rest.isEmpty else { return false }
            while !rest.isEmpty {
                let range = NSRange(rest.startIndex..., in: rest)
                guard let match = literalToken.firstMatch(in: rest, range: range), match.range.length > 0 else {
                    return false
                }
                rest = String(rest[Range(match.range, in: rest)!.upperBound...])
            }
            return true
        }
    }

    private static func createsThread(_ code: String) -> Bool {
        code.range(
            of: #"\bpthread_create\b|(?<![\w.])Thread\(|\bstartDetachedThread\b|Thread\.detachNewThread"#,
            options: .regularExpression) != nil
    }

    /// Strips comments and the contents of string literals (a literal
    /// becomes `""`, a multi-line one `"""` where it opens), and keeps the
    /// brace depth of the code.
    struct Scanner {
        var depth = 0
        private var inBlockComment = false
        private var inMultilineString = false

        mutating func code(of line: String) -> String {
            var output = ""
            var chars = Array(line)[...]
            var inString = false
            while let char = chars.first {
                if inBlockComment {
                    if chars.starts(with: "*/") {
                        inBlockComment = false
                        chars = chars.dropFirst(2)
                    } else {
                        chars = chars.dropFirst()
                    }
                } else if inMultilineString {
                    if chars.starts(with: #"\""#) {
                        chars = chars.dropFirst(2)
                    } else if chars.starts(with: #"""""#) {
                        inMultilineString = false
                        chars = chars.dropFirst(3)
                    } else {
                        chars = chars.dropFirst()
                    }
                } else if inString {
                    if char == "\\" {
                        chars = chars.dropFirst(2)
                    } else {
                        if char == "\"" {
                            inString = false
                            output += "\"\""
                        }
                        chars = chars.dropFirst()
                    }
                } else if chars.starts(with: "//") {
                    break
                } else if chars.starts(with: "/*") {
                    inBlockComment = true
                    chars = chars.dropFirst(2)
                } else if chars.starts(with: #"""""#) {
                    inMultilineString = true
                    output += #"""""#
                    chars = chars.dropFirst(3)
                } else if char == "\"" {
                    inString = true
                    chars = chars.dropFirst()
                } else {
                    if char == "{" { depth += 1 }
                    if char == "}" { depth -= 1 }
                    output.append(char)
                    chars = chars.dropFirst()
                }
            }
            return output
        }
    }
}
