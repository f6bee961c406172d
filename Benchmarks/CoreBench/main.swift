import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

// core-bench: what the core's safe handles cost against the raw floor
// (GC.unsafeAllocate: a bare GC_malloc), with no live heap and with a live
// heap of 64 MB, where libgc's 4,096-entry rule for its link and finalizer
// tables forces full collections.
//
//   swift run -c release core-bench [--count N] [--ballast-mb M,...] [--repeat R] [--json PATH]

struct Options {
    var count = 200_000
    var ballasts = [0, 64]
    var repeats = 5
    var json: String?
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let flag = arguments.popFirst() {
        func value() -> String {
            guard let v = arguments.popFirst() else { fatalError("\(flag) needs a value") }
            return v
        }
        switch flag {
        case "--count": options.count = Int(value()) ?? options.count
        case "--ballast-mb": options.ballasts = value().split(separator: ",").compactMap { Int($0) }
        case "--repeat": options.repeats = max(1, Int(value()) ?? options.repeats)
        case "--json": options.json = value()
        case "--tiny":
            options.count = 5_000
            options.ballasts = [0, 4]
            options.repeats = 1
        default:
            print("usage: core-bench [--count N] [--ballast-mb 0,64] [--repeat R] [--json PATH] [--tiny]")
            exit(flag == "--help" ? 0 : 2)
        }
    }
    return options
}

/// `value` with one decimal, right-aligned in `width` columns.
func fixed(_ value: Double, width: Int = 0) -> String {
    let tenths = Int((value * 10).rounded())
    let text = "\(tenths / 10).\(abs(tenths % 10))"
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

func padded(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Median ns per operation of each of `operations`, measured in turns
/// (one run of `count` of each, `repeats` rounds), so every operation sees the
/// same phases of the heap (growth, collections of the live heap).
func measureInTurns(
    _ count: Int, _ repeats: Int, _ operations: [(String, (Int) throws -> Void)]
) throws -> [(String, Double)] {
    var samples = Array(repeating: [Double](), count: operations.count)
    for _ in 0..<repeats {
        for (k, operation) in operations.enumerated() {
            let start = now()
            for i in 0..<count { try operation.1(i) }
            samples[k].append(Double(now() - start) / Double(count))
            GC.runFinalizers()
        }
    }
    return operations.indices.map { k in (operations[k].0, samples[k].sorted()[samples[k].count / 2]) }
}

let options = parseOptions()
GC.initialize()
var ballast: [GCRoot] = []
var results: [(ballast: Int, name: String, ns: Double, ratio: Double)] = []

for mb in options.ballasts {
    // A live heap of linked 4 KiB scanned blocks, like a server's working set.
    while ballast.count * 4_096 < mb << 20 {
        let block = try GCRoot(byteCount: 4_096)
        if let last = ballast.last { block.setReference(last, at: 0) }
        ballast.append(block)
    }
    if ballast.count * 4_096 > mb << 20 { ballast.removeAll() }
    GC.collect()
    let measured = try measureInTurns(
        options.count, options.repeats,
        [
            ("raw allocation (floor)", { _ in _ = try GC.unsafeAllocate(byteCount: 32) }),
            ("GCRoot", { _ in _ = try GCRoot(byteCount: 32) }),
            ("GCRoot + weak reference", { _ in _ = try GCWeakReference(try GCRoot(byteCount: 32)) }),
            ("GCRoot + finalizer", { _ in try GCRoot(byteCount: 32).setFinalizer { _ in } }),
        ])
    let floor = measured[0].1
    for (name, ns) in measured {
        results.append((mb, name, ns, ns / floor))
    }
}

print("core-bench: \(options.count) operations, median of \(options.repeats), 32-byte objects")
print("live heap   operation                      ns/op   x floor")
for r in results {
    print(
        "\(padded(String(r.ballast), 3)) MB     \(padded(r.name, 28)) \(fixed(r.ns, width: 8))  \(fixed(r.ratio, width: 7))"
    )
}
let stats = GC.statistics
print("collections \(stats.collections), heap \(stats.heapSize >> 20) MB, total pause \(stats.totalPause)")

if let path = options.json {
    let rows = results.map {
        "{\"ballast_mb\": \($0.ballast), \"operation\": \"\($0.name)\", \"ns_per_op\": \(fixed($0.ns)), \"ratio_to_floor\": \(fixed($0.ratio))}"
    }
    let text = "{\"results\": [\n  " + rows.joined(separator: ",\n  ") + "\n]}\n"
    guard let file = fopen(path, "w") else { fatalError("cannot write \(path)") }
    fputs(text, file)
    fclose(file)
}
