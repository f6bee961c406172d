/// The command line of a measured child process: positional words, then
/// `--name value` options and `--name` flags.
///
/// Drivers parse theirs with swift-argument-parser; a measured child stays
/// lean (that package brings Foundation's pages and writable data into the
/// process, which the collector would scan as roots), and its command line
/// comes from a driver or a test.
public struct ChildArguments: Sendable {
    /// The words before the first option.
    public private(set) var positional: [String] = []
    /// Options in order; a flag's value is empty. An array, not a
    /// dictionary: a handful of options, and less of the runtime paged in.
    private var options: [(name: String, value: String)] = []

    /// Reads `arguments`; the names in `flags` take no value.
    ///
    /// - Throws: `UsageError` for an option without its value, or a word
    ///   after the first option that is no option.
    public init(_ arguments: [String] = Array(CommandLine.arguments.dropFirst()), flags: [String] = [])
        throws(UsageError)
    {
        var rest = arguments[...]
        while let word = rest.first, !word.hasPrefix("--") {
            positional.append(word)
            rest = rest.dropFirst()
        }
        while let word = rest.popFirst() {
            guard word.hasPrefix("--") else { throw UsageError("unexpected argument \(word)") }
            let name = String(word.dropFirst(2))
            if flags.contains(name) {
                options.append((name, ""))
            } else {
                guard let value = rest.popFirst() else { throw UsageError("\(word) needs a value") }
                options.append((name, value))
            }
        }
    }

    /// Whether `--name` was given.
    public func flag(_ name: String) -> Bool { string(name) != nil }

    /// The value of `--name`, if given.
    public func string(_ name: String) -> String? { options.last { $0.name == name }?.value }

    /// The value of `--name`, at least `minimum`, or `defaultValue`.
    public func int(_ name: String, _ defaultValue: Int, minimum: Int = 1) throws(UsageError) -> Int {
        guard let text = string(name) else { return defaultValue }
        guard let value = Int(text), value >= minimum else {
            throw UsageError(
                minimum == 1 ? "--\(name) needs a positive integer" : "--\(name) needs an integer >= \(minimum)")
        }
        return value
    }

    /// The value of `--name`, a finite number of at least 0, or `defaultValue`.
    public func double(_ name: String, _ defaultValue: Double) throws(UsageError) -> Double {
        guard let text = string(name) else { return defaultValue }
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw UsageError("--\(name) needs a number >= 0")
        }
        return value
    }
}

/// A command line that cannot be read; the message says why.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
