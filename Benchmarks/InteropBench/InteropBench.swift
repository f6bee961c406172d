// interop-bench: the figures of the C API (bgc.h), each configuration in a
// child process of its own (interop-bench-child), so peak RSS and
// collections are its own:
// - alloc: bgc_malloc against GC_malloc from a registered thread, the same
//   C loop, alternating, median of the rounds (and Swift's
//   GC.unsafeAllocate beside them);
// - zlib: deflate streams whose z_stream lives in a GC object, ended each
//   time or dropped (a finalizer ends them) with the counting hooks, and
//   dropped with zlib's own malloc (the dark matter);
// - gmp: numbers grown one factor at a time on the GC heap, through the
//   collected hooks (GC_realloc, GC_free), through hooks written with the
//   Swift API alone (realloc as allocate and copy, no free), and through
//   the counting hooks.
// Runs of each configuration: medians.
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport

@main
struct InteropBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-bench",
        abstract: "The C API's allocation, zlib and GMP hooks, each configuration in a child process.")

    @Flag(help: "The CI size: small counts, one run each.")
    var tiny = false

    @Option(help: "Runs of each configuration (the median is reported).")
    var runs = 3

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    struct Figures: Encodable {
        var allocBgcNs = 0.0, allocRawNs = 0.0, allocSwiftNs = 0.0, allocRatio = 0.0
        var zlibEndedPeakMiB = 0.0, zlibDroppedPeakMiB = 0.0, zlibUnhookedPeakMiB = 0.0
        var zlibDroppedToEnded = 0.0, zlibEndedSeconds = 0.0, zlibDroppedSeconds = 0.0
        var gmpCollectedCollections = 0.0, gmpNaiveCollections = 0.0, gmpCountedCollections = 0.0
        var gmpCollectedSeconds = 0.0, gmpNaiveSeconds = 0.0, gmpCountedSeconds = 0.0
        var gmpCollectedPeakMiB = 0.0, gmpNaivePeakMiB = 0.0, gmpCountedPeakMiB = 0.0
    }

    mutating func run() async throws {
        let child = try siblingExecutable("interop-bench-child")
        let runs = tiny ? 1 : max(1, runs)
        var figures = Figures()

        /// The median of each field over `runs` children of `arguments`.
        func measure(_ arguments: [String], _ keys: [String]) async -> [String: Double] {
            var values: [String: [Double]] = [:]
            for _ in 0..<runs {
                let output = await runChild([child] + arguments, timeLimit: .seconds(600))
                if let error = output.error { print("  \(arguments.joined(separator: " ")): failed: \(error)") }
                for key in keys { values[key, default: []].append(Double(output.fields[key] ?? "") ?? .nan) }
            }
            return values.mapValues(median)
        }

        let count = tiny ? 10_000 : 1_000_000
        let alloc = await measure(["alloc", "\(count)", tiny ? "3" : "21"], ["bgcNs", "rawNs", "swiftNs", "ratio"])
        figures.allocBgcNs = alloc["bgcNs"]!
        figures.allocRawNs = alloc["rawNs"]!
        figures.allocSwiftNs = alloc["swiftNs"]!
        figures.allocRatio = alloc["ratio"]!
        print("allocation of 32 bytes from a registered thread, ns (median of the rounds' medians):")
        print(
            "  bgc_malloc \(fixed(figures.allocBgcNs, 2)), GC_malloc \(fixed(figures.allocRawNs, 2)), "
                + "ratio \(fixed(figures.allocRatio, 3)) (goal <= 1.1); GC.unsafeAllocate \(fixed(figures.allocSwiftNs, 2))"
        )

        let streams = tiny ? 500 : 10_000
        print("zlib, \(streams) deflate streams whose z_stream lives in a GC object:")
        print(pad("streams", 34, left: true) + pad("peak RSS MiB", 14) + pad("seconds", 10) + pad("collections", 13))
        var zlib: [String: [String: Double]] = [:]
        for mode in ["ended", "dropped", "unhooked"] {
            let result = await measure(["zlib", "\(streams)", mode], ["peakRSSKiB", "seconds", "collections"])
            zlib[mode] = result
            let label = [
                "ended": "ended (counting hooks)", "dropped": "dropped (counting hooks, finalizer)",
                "unhooked": "dropped (zlib's malloc, finalizer)",
            ][mode]!
            print(
                pad(label, 34, left: true) + pad(fixed(result["peakRSSKiB"]! / 1024, 1), 14)
                    + pad(fixed(result["seconds"]!, 2), 10) + pad(fixed(result["collections"]!, 0), 13))
        }
        figures.zlibEndedPeakMiB = zlib["ended"]!["peakRSSKiB"]! / 1024
        figures.zlibDroppedPeakMiB = zlib["dropped"]!["peakRSSKiB"]! / 1024
        figures.zlibUnhookedPeakMiB = zlib["unhooked"]!["peakRSSKiB"]! / 1024
        figures.zlibEndedSeconds = zlib["ended"]!["seconds"]!
        figures.zlibDroppedSeconds = zlib["dropped"]!["seconds"]!
        figures.zlibDroppedToEnded = figures.zlibDroppedPeakMiB / figures.zlibEndedPeakMiB
        print("  dropped / ended peak RSS: \(fixed(figures.zlibDroppedToEnded, 2))x (goal <= 2x)")

        let rounds = tiny ? 200 : 20_000
        print("GMP, \(rounds) numbers grown one factor at a time on the GC heap, dropped:")
        print(pad("hooks", 34, left: true) + pad("collections", 13) + pad("seconds", 10) + pad("peak RSS MiB", 14))
        var gmp: [String: [String: Double]] = [:]
        for mode in ["collected", "naive", "counted"] {
            let result = await measure(["gmp", "\(rounds)", mode], ["collections", "seconds", "peakRSSKiB"])
            gmp[mode] = result
            let label = [
                "collected": "collected (GC_realloc, GC_free)", "naive": "Swift API alone (copy, no free)",
                "counted": "counting (malloc, finalizer)",
            ][mode]!
            print(
                pad(label, 34, left: true) + pad(fixed(result["collections"]!, 0), 13)
                    + pad(fixed(result["seconds"]!, 2), 10) + pad(fixed(result["peakRSSKiB"]! / 1024, 1), 14))
        }
        figures.gmpCollectedCollections = gmp["collected"]!["collections"]!
        figures.gmpNaiveCollections = gmp["naive"]!["collections"]!
        figures.gmpCountedCollections = gmp["counted"]!["collections"]!
        figures.gmpCollectedSeconds = gmp["collected"]!["seconds"]!
        figures.gmpNaiveSeconds = gmp["naive"]!["seconds"]!
        figures.gmpCountedSeconds = gmp["counted"]!["seconds"]!
        figures.gmpCollectedPeakMiB = gmp["collected"]!["peakRSSKiB"]! / 1024
        figures.gmpNaivePeakMiB = gmp["naive"]!["peakRSSKiB"]! / 1024
        figures.gmpCountedPeakMiB = gmp["counted"]!["peakRSSKiB"]! / 1024

        if let json {
            try writeJSON(figures, to: json, snakeCaseKeys: true)
            print("wrote \(json)")
        }
    }
}
