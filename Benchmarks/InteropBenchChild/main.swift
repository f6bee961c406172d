// interop-bench-child: one configuration of interop-bench, measured in a
// process of its own (so peak RSS and collections are its own), started by
// the interop-bench driver:
//
//   interop-bench-child alloc COUNT ROUNDS
//   interop-bench-child zlib STREAMS ended|dropped|unhooked
//   interop-bench-child gmp ROUNDS collected|naive|counted
//
// It reports one `result key=value ...` line (BenchmarkSupport's ChildRecord).
// Lean on purpose: no Foundation, no swift-argument-parser.
import BenchmarkSupport
import BoehmGC
import InteropC

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ message: String) -> Never {
    print(ChildRecord.error(message).line)
    exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 3, let count = Int(arguments[1]) else {
    fail("usage: interop-bench-child alloc COUNT ROUNDS | zlib STREAMS MODE | gmp ROUNDS MODE")
}
// The library starts from C, as in a C program; the thread is registered.
_ = residentBytes()
switch arguments[0] {
case "alloc":
    guard let rounds = Int(arguments[2]) else { fail("ROUNDS must be a number") }
    // Warm both paths, then alternate them so drift hits both alike.
    _ = interop_bgc_alloc_ns(count, 32)
    _ = interop_raw_alloc_ns(count, 32)
    var api: [Double] = []
    var raw: [Double] = []
    var swift: [Double] = []
    for round in 0..<rounds {
        if round % 2 == 0 {
            api.append(interop_bgc_alloc_ns(count, 32))
            raw.append(interop_raw_alloc_ns(count, 32))
        } else {
            raw.append(interop_raw_alloc_ns(count, 32))
            api.append(interop_bgc_alloc_ns(count, 32))
        }
        swift.append(nanosecondsPerCall(count) { _ = try! GC.unsafeAllocate(byteCount: 32) })
    }
    if api.contains(where: { $0 < 0 }) || raw.contains(where: { $0 < 0 }) { fail("allocation failed") }
    let ratios = zip(api, raw).map { $0 / $1 }
    print(
        ChildRecord.result([
            ("bgcNs", fixed(median(api), 2)), ("rawNs", fixed(median(raw), 2)), ("swiftNs", fixed(median(swift), 2)),
            ("ratio", fixed(median(ratios), 3)), ("rounds", "\(rounds)"), ("count", "\(count)"),
        ]).line)
case "zlib":
    let modes = ["ended": Int32(0), "dropped": 1, "unhooked": 2]
    guard let mode = modes[arguments[2]] else { fail("MODE: ended, dropped or unhooked") }
    let start = monotonicNanoseconds()
    let failed = interop_zlib(Int32(count), mode)
    let seconds = Double(monotonicNanoseconds() - start) / 1e9
    GC.collect()
    GC.runFinalizers()
    if failed != 0 { fail("\(failed) streams failed") }
    print(
        ChildRecord.result([
            ("streams", "\(count)"), ("peakRSSKiB", "\(residentBytes().peak / 1024)"),
            ("seconds", fixed(seconds, 3)), ("collections", "\(interop_collections())"),
            ("liveForeignKiB", "\(ForeignMemory.statistics.liveBytes / 1024)"),
        ]).line)
case "gmp":
    let modes = ["collected": Int32(0), "naive": 1, "counted": 2]
    guard let mode = modes[arguments[2]] else { fail("MODE: collected, naive or counted") }
    let before = interop_collections()
    let start = monotonicNanoseconds()
    let checksum = interop_gmp(Int32(count), mode)
    let seconds = Double(monotonicNanoseconds() - start) / 1e9
    print(
        ChildRecord.result([
            ("rounds", "\(count)"), ("collections", "\(interop_collections() - before)"),
            ("seconds", fixed(seconds, 3)), ("peakRSSKiB", "\(residentBytes().peak / 1024)"),
            ("checksum", "\(checksum)"),
        ]).line)
default:
    fail("unknown configuration \(arguments[0])")
}
