import Subprocess

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Writes `value` as JSON (keys sorted, indented) to `path`, creating its
/// directory when missing; with `snakeCaseKeys`, property names such as
/// `ballastMB` become keys such as `ballast_mb`.
public func writeJSON(_ value: some Encodable, to path: String, snakeCaseKeys: Bool = false) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if snakeCaseKeys { encoder.keyEncodingStrategy = .convertToSnakeCase }
    try write(encoder.encode(value) + Data("\n".utf8), to: path)
}

/// Writes `text` to `path`, creating its directory when missing.
public func writeText(_ text: String, to path: String) throws {
    try write(Data(text.utf8), to: path)
}

private func write(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try data.write(to: url)
}

/// The contents of the file at `path` as UTF-8 text.
public func readText(_ path: String) throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

/// The executable called `name` in the directory of this one (SwiftPM builds
/// a driver's child next to it).
public func siblingExecutable(_ name: String) throws -> String {
    let this = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    return URL(fileURLWithPath: this).deletingLastPathComponent().appendingPathComponent(name).path
}

/// The full path of the executable `name` on the `PATH`, or nil.
public func findOnPath(_ name: String) async -> String? {
    (try? await Executable.name(name).resolveExecutablePath(in: .inherit))?.string
}

/// Whether a file is at `path`.
public func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// An optional that JSON shows as `null` when it is nil (a synthesized
/// `Encodable` leaves a nil optional out), for keys that readers expect in
/// every record.
@propertyWrapper
public struct JSONNullable<Value: Encodable>: Encodable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
