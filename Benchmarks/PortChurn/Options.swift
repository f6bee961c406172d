import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport
import BoehmGC

/// The foreign-memory trigger policies of the policy table by their short
/// names; any other `--policy` item is a full spelling, parsed by
/// `ForeignMemory.TriggerPolicy(argument:)` (e.g. `count:500`, `interval:5ms`).
enum TriggerPolicyShorthand {
    /// Short name and full spelling, in the order of the policy table.
    /// `count` fires every 1,000 ports (~33 MB of iconv handles, about
    /// half the 64 MB ballast); `time` at most every 50 ms, about the cost
    /// of one full collection of the 64 MB ballast, so collections take at
    /// most about half the time.
    static let all: [(name: String, argument: String)] = [
        ("bytes", "bytes"),
        ("count", "count:1000"),
        ("time", "interval:50ms"),
        ("either", "either:count:1000,interval:50ms"),
    ]

    /// The full spellings of a `--policy` list: `all`, or items separated by
    /// `;` when there is one (full spellings contain commas), otherwise by
    /// commas.
    static func spellings(_ text: String) throws -> [String] {
        guard text != "all" else { return all.map(\.argument) }
        let items = listItems(text, separator: text.contains(";") ? ";" : ",")
        return try items.map { item in
            let spelling = all.first { $0.name == item }?.argument ?? item
            guard ForeignMemory.TriggerPolicy(argument: spelling) != nil else {
                throw ValidationError("unknown trigger policy \(item)")
            }
            return spelling
        }
    }
}

/// What the Guile peer runs, per ballast.
struct PeerRun: Hashable, Sendable {
    /// `dropped`, `closed` or `gc-every`.
    var mode: String
    /// `string` or `file`.
    var portKind: String
    var name: String { "guile-\(portKind)-\(mode)" }

    static let defaults = [
        PeerRun(mode: "dropped", portKind: "string"),
        PeerRun(mode: "closed", portKind: "string"),
        PeerRun(mode: "dropped", portKind: "file"),
    ]

    /// A `--peer-runs` list: `KIND-MODE` items.
    static func list(_ text: String) throws -> [PeerRun] {
        try listItems(text).map { item in
            let parts = item.split(separator: "-", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["string", "file"].contains(parts[0]),
                ["dropped", "closed", "gc-every"].contains(parts[1])
            else { throw ValidationError("bad peer run \(item)") }
            return PeerRun(mode: parts[1], portKind: parts[0])
        }
    }
}

enum PeerChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Run Guile when `guile-3.0` is on the PATH, else say why not and go on.
    case auto
    case guile
    case none
}

enum PortKind: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// In-memory string ports.
    case string
    /// File ports on /dev/null, each owning its descriptor.
    case file
}

/// A `--configs` list (`none`: no Swift configuration, only the peer).
func churnConfigs(_ text: String) throws -> [ChurnConfig] {
    try listItems(text).filter { $0 != "none" }.map { name in
        guard let config = ChurnConfig(rawValue: name) else { throw ValidationError("unknown configuration \(name)") }
        return config
    }
}

/// A path option where `none` means no file.
func optionalPath(_ text: String) -> String? { text == "none" ? nil : text }
