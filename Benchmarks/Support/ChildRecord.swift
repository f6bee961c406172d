#if canImport(Glibc)
    import Glibc
#endif

/// One RSS sample of a run.
public struct Sample: Sendable, Equatable {
    public var ports: Int
    public var seconds: Double
    public var rssBytes: Int

    public init(ports: Int, seconds: Double, rssBytes: Int) {
        self.ports = ports
        self.seconds = seconds
        self.rssBytes = rssBytes
    }
}

/// What a measured child process tells its driver: one record per line on
/// standard output, so the child needs nothing but `print`.
///
///     sample PORTS SECONDS RSS-BYTES
///     result key=value key=value ...
///     error MESSAGE
///
/// The Guile peer of port-churn (`Benchmarks/guile/port-churn.scm`) writes
/// the same records. Other lines are ignored.
public enum ChildRecord: Sendable {
    /// A sample (`ports` counts whatever the child iterates).
    case sample(Sample)
    /// The figures of the run, in order; values hold no spaces.
    case result([(key: String, value: String)])
    /// Why the run failed.
    case error(String)

    /// Parses one line; `nil` for a line that is no record.
    public init?(line: some StringProtocol) {
        let words = line.split(separator: " ")
        switch words.first {
        case "sample" where words.count == 4:
            guard let ports = Int(words[1]), let seconds = Double(words[2]), let rss = Int(words[3]) else {
                return nil
            }
            self = .sample(Sample(ports: ports, seconds: seconds, rssBytes: rss))
        case "result":
            self = .result(
                words.dropFirst().compactMap { word in
                    let pair = word.split(separator: "=", maxSplits: 1)
                    return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
                })
        case "error":
            self = .error(String(line.dropFirst("error ".count)))
        default:
            return nil
        }
    }

    /// The record as one line, without the newline.
    public var line: String {
        switch self {
        case .sample(let sample): return "sample \(sample.ports) \(sample.seconds) \(sample.rssBytes)"
        case .result(let fields): return "result " + fields.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        case .error(let message): return "error \(message)"
        }
    }

    /// Writes the record to standard output and flushes it at once (the
    /// driver shows progress from the samples).
    public func emit() {
        print(line)
        fflush(nil)  // all output streams: `stdout` itself is not concurrency-safe to name
    }
}
