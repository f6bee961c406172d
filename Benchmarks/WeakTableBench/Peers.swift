// The peers of weak-table-bench, in processes of their own: Guile 3.0
// (Benchmarks/guile/weak-intern.scm) and Java (Benchmarks/java/WeakIntern.java,
// compiled with javac into a temporary directory). Each prints one `result`
// record (ChildRecord) with the same figures.
import BenchmarkDriverSupport
import BenchmarkSupport
import Foundation

/// A peer's figures, by key, or why it did not run.
struct PeerRun {
    var name: String
    var fields: [String: Double] = [:]
    var skipped: String?
}

/// The file at `relative` under Benchmarks/ (from the package directory, or
/// next to this source file).
func benchmarkFile(_ relative: String) -> String? {
    [
        "Benchmarks/" + relative,
        String(#filePath.dropLast("WeakTableBench/Peers.swift".count)) + relative,
    ].first(where: fileExists)
}

/// Runs Guile's and Java's interning and weak-table figures with `entries`
/// names and a live heap of `liveMB`.
func runPeers(entries: Int, liveMB: Int) async -> [PeerRun] {
    var runs: [PeerRun] = []
    var guile = PeerRun(name: "Guile 3.0")
    if let binary = await findOnPath("guile-3.0"), let script = benchmarkFile("guile/weak-intern.scm") {
        let output = await runChild(
            [binary, script, String(entries), String(liveMB)], quietStandardError: true, timeLimit: .seconds(900))
        if let error = output.error {
            guile.skipped = error
        } else {
            guile.fields = output.fields.compactMapValues(Double.init)
        }
    } else {
        guile.skipped = "guile-3.0 is not installed (apt-get install guile-3.0), or the script is missing"
    }
    runs.append(guile)

    var java = PeerRun(name: "Java 17")
    if let javac = await findOnPath("javac"), let binary = await findOnPath("java"),
        let source = benchmarkFile("java/WeakIntern.java")
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "weak-table-bench-java-\(ProcessInfo.processInfo.processIdentifier)"
        ).path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let compiled = await runTool([javac, "-d", directory, source])
        if let problem = compiled {
            java.skipped = "javac failed: \(problem)"
        } else {
            let output = await runChild(
                [binary, "-cp", directory, "WeakIntern", String(entries), String(liveMB)], quietStandardError: true,
                timeLimit: .seconds(900))
            if let error = output.error {
                java.skipped = error
            } else {
                java.fields = output.fields.compactMapValues(Double.init)
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    } else {
        java.skipped = "javac and java are not installed (a JDK)"
    }
    runs.append(java)
    return runs
}
