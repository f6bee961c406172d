// weak-table-bench: GCWeakTable against the raw libgc floor, in one process.
//
//   swift run -c release weak-table-bench [--entries N] [--live-mb M] [--tiny] [--json PATH]
//
// Figures (ns per operation unless named otherwise), at 0 MB and M MB (64)
// of live heap: insert (allocate a 32-byte key + insert, keys kept), lookup
// hit / miss, remove, churn insert (keys die at once); bytes of table storage
// per live entry; eager vacuum time per million dead entries next to the
// pause of the collection it follows; and the floor: the same allocation
// plus a libgc disappearing link (C, CFloor).
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport
import BoehmGC
import CFloor

struct Options: ParsableArguments {
    @Option(help: "Entries per table.")
    var entries = 1_000_000

    @Option(name: .customLong("live-mb"), help: "The live heap of the second phase, in MB.")
    var liveMB = 64

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    @Flag(help: "The CI size: 20,000 entries, a 4 MB live heap.")
    var tiny = false
}

var options = Options.parseOrExit()
if options.tiny { (options.entries, options.liveMB) = (20_000, 4) }
let n = options.entries
let perMillion = 1_000_000.0
var figures: [String: Double] = [:]

@MainActor func record(_ key: String, _ value: Double, _ label: String) {
    figures[key] = decimals(value, 3)
    print("  " + pad(label, 50, left: true) + pad(fixed(value, 2), 10))
}

/// A scanned uncollectable array of `count` words: keeps what it points to.
final class Keep {
    let root: GCRoot
    let words: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    init(_ count: Int) throws {
        root = try GCRoot(byteCount: count * 8)
        words = root.unsafeAddress.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: count)
    }
    func clear(_ count: Int) { words.update(repeating: nil, count: count) }
}

/// Builds `mb` MB of live, pointer-rich heap: 64-byte scanned objects, each
/// pointing at the previous one, all held by one array.
func makeLiveHeap(mb: Int) throws -> Keep? {
    guard mb > 0 else { return nil }
    let count = mb * 1024 * 1024 / 64
    let keep = try Keep(count)
    var previous: UnsafeMutableRawPointer? = nil
    for i in 0..<count {
        let object = try GC.unsafeAllocate(byteCount: 64)
        object.storeBytes(of: previous, as: UnsafeMutableRawPointer?.self)
        keep.words[i] = object
        previous = object
    }
    return keep
}

@inline(never)
func churnInsert(_ table: GCWeakTable, count: Int, value: UnsafeMutableRawPointer) throws -> Double {
    try nanosecondsPerCall(count) {
        let key = try GC.unsafeAllocate(byteCount: 32)
        try table.unsafeSetValue(value, forKey: key)
    }
}

func runFloor(label: String, count: Int, keep: Int32) -> Double {
    let ns = cfloor_alloc_link_ns(count, 32, keep)
    precondition(ns >= 0, "floor: out of memory")
    return ns
}

GC.initialize()
let value = try GCRoot(byteCount: 32)
print("weak-table-bench: \(n) entries, live heap 0 and \(options.liveMB) MB, release build expected")

// MARK: Phase 1, fresh heap: floors and churn

print("\n[0 MB live heap]")
let allocNs = best { cfloor_alloc_ns(n, 32) }
record("floor_alloc_ns", allocNs, "floor: GC_MALLOC(32)")
let floorChurn = best { runFloor(label: "churn", count: n, keep: 0) }
record("floor_churn_ns", floorChurn, "floor: GC_MALLOC(32) + disappearing link, dying")

let keys = try Keep(n)
var table = try GCWeakTable(weakness: .keys)
let churnTable = try GCWeakTable(weakness: .keys)
let churn0 = try best { try churnInsert(churnTable, count: n, value: value.unsafeAddress) }
record("churn_insert_ns", churn0, "churn insert (fresh keys die at once)")
record("churn_ratio_to_floor", churn0 / floorChurn, "  ratio to the dying floor")

// Eager vacuum of n dead entries, next to the pause of the collection that
// found them dead.
@MainActor func measureVacuum() throws -> (vacuum: Double, pause: Double, sweep: Double, entries: Int) {
    keys.clear(n)
    table = try GCWeakTable(weakness: .keys)
    GC.collect()
    GC.runFinalizers()
    for i in 0..<n {
        let key = try GC.unsafeAllocate(byteCount: 32)
        keys.words[i] = key
        try table.unsafeSetValue(value.unsafeAddress, forKey: key)
    }
    let before = table.statistics
    keys.clear(n)
    GC.collect()
    let pause = GC.statistics.lastPause.nanoseconds
    GC.runFinalizers()
    let after = table.statistics
    let vacuum = after.vacuumTime - before.vacuumTime
    let sweep = after.sweepTime - before.sweepTime
    return (vacuum.nanoseconds, pause, sweep.nanoseconds, after.entriesVacuumed - before.entriesVacuumed)
}

// MARK: Live heap

print("\n[\(options.liveMB) MB live heap]")
let live = try makeLiveHeap(mb: options.liveMB)
GC.collect()
let heapMB = Double(GC.statistics.heapSize) / 1_048_576
print("  heap \(fixed(heapMB, 0)) MB after building the live heap")
let churnTable64 = try GCWeakTable(weakness: .keys)
let gcBefore = GC.collectionCount
let churn64 = try best { try churnInsert(churnTable64, count: n, value: value.unsafeAddress) }
let gcDuring = GC.collectionCount - gcBefore
record("churn_insert_64mb_ns", churn64, "churn insert")
print("  (\(gcDuring) collections over 3 runs; table capacity now \(churnTable64.statistics.capacity))")
let floorCount = max(n / 20, 1_000)
let gcFloorBefore = cfloor_gc_count()
let floorChurn64 = runFloor(label: "churn64", count: floorCount, keep: 0)
record("floor_churn_64mb_ns", floorChurn64, "floor: GC_MALLOC(32) + link, dying (\(floorCount))")
print("  (\(cfloor_gc_count() - gcFloorBefore) collections forced by the link table)")
record("churn_64mb_vs_floor", churn64 / floorChurn64, "  table churn / link floor")

var v64 = try measureVacuum()
let scale64 = perMillion / Double(max(v64.entries, 1))
record("vacuum_64mb_ms_per_million", v64.vacuum * scale64 / 1e6, "eager vacuum, ms per million dead entries")
record("gc_pause_64mb_ms_per_million", v64.pause * scale64 / 1e6, "  pause of the collection before it (scaled)")
v64 = (0, 0, 0, 0)

// Last, because libgc's link table never shrinks: n kept links grow it to
// n entries, after which the churn floors above would force no collections.
print("\n[0 MB live heap again (heap grown): kept entries]")
live?.clear(options.liveMB * 1024 * 1024 / 64)
GC.collect()
let floorInsert = best {
    let ns = runFloor(label: "insert", count: n, keep: 1)
    GC.collect()
    return ns
}
record("floor_insert_ns", floorInsert, "floor: GC_MALLOC(32) + disappearing link, kept")

// Insert: allocate the key, keep it, insert it (what the floor does, with a
// table instead of a link).
let insertNs = try best {
    keys.clear(n)
    table = try GCWeakTable(weakness: .keys)
    GC.collect()
    let t = table
    let words = keys.words
    let v = value.unsafeAddress
    return try elapsedNanoseconds {
        for i in 0..<n {
            let key = try GC.unsafeAllocate(byteCount: 32)
            words[i] = key
            try t.unsafeSetValue(v, forKey: key)
        }
    } / Double(n)
}
record("insert_ns", insertNs, "insert (allocate key + insert)")
record("insert_ratio_to_floor", insertNs / floorInsert, "  insert_ns / floor (target <= 2)")
let stats = table.statistics
let bytesPerEntry = Double(stats.storageBytes) / Double(stats.liveEntries)
record("bytes_per_entry", bytesPerEntry, "bytes of storage per live entry (<= 64)")

let insertOnlyNs = try best {
    let t = try GCWeakTable(weakness: .keys)
    let words = keys.words
    let v = value.unsafeAddress
    return try elapsedNanoseconds {
        for i in 0..<n { try t.unsafeSetValue(v, forKey: words[i]!) }
    } / Double(n)
}
record("insert_only_ns", insertOnlyNs, "insert only (keys exist)")

var found = 0
/// Best ns per `unsafeValue` lookup of `words[i]`, for each i of `indices` in
/// their order; hits are added to `found` so the lookups are not optimised out.
@MainActor func lookupNs(_ words: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ indices: some Collection<Int>)
    -> Double
{
    best {
        let t = table
        var hits = 0
        let ns =
            elapsedNanoseconds {
                for i in indices where t.unsafeValue(forKey: words[i]!) != nil { hits += 1 }
            } / Double(indices.count)
        found += hits
        return ns
    }
}
let lookupOrdered = lookupNs(keys.words, 0..<n)
var order = Array(0..<n)
order.shuffle()
let lookupRandom = lookupNs(keys.words, order)
let batch = 256
let lookupBatch = best {
    elapsedNanoseconds {
        withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: batch) { out in
            var start = 0
            while start < n {
                let count = min(batch, n - start)
                let slice = UnsafeBufferPointer(
                    start: UnsafeRawPointer(keys.words + start).assumingMemoryBound(to: UnsafeMutableRawPointer.self),
                    count: count)
                table.unsafeValues(forKeys: slice, into: out)
                if out[count - 1] != nil { found += 1 }
                start += count
            }
        }
    } / Double(n)
}
let safeLookup = best {
    let sample = min(n, 200_000)
    var roots: [GCRoot] = []
    roots.reserveCapacity(sample)
    for i in 0..<sample { roots.append(GCRoot(unsafeAddress: keys.words[i]!)) }
    return elapsedNanoseconds {
        for r in roots where table[r] != nil { found += 1 }
    } / Double(sample)
}
record("lookup_hit_ns", lookupOrdered, "lookup hit, unsafeValue, insertion order")
record("lookup_hit_random_ns", lookupRandom, "lookup hit, unsafeValue, random order")
record("lookup_hit_batch_ns", lookupBatch, "lookup hit, unsafeValues x256, insertion order")
record("lookup_hit_safe_ns", safeLookup, "lookup hit, subscript (roots the value)")

let misses = try Keep(n)
for i in 0..<n { misses.words[i] = try GC.unsafeAllocate(byteCount: 32) }
let lookupMiss = lookupNs(misses.words, 0..<n)
record("lookup_miss_ns", lookupMiss, "lookup miss, unsafeValue")
misses.clear(n)

let removeNs = try best {
    let t = try GCWeakTable(weakness: .keys)
    for i in 0..<n { try t.unsafeSetValue(value.unsafeAddress, forKey: keys.words[i]!) }
    let words = keys.words
    return elapsedNanoseconds {
        for i in 0..<n { t.unsafeRemoveValue(forKey: words[i]!) }
    } / Double(n)
}
record("remove_ns", removeNs, "remove, unsafeRemoveValue")

var v0 = try measureVacuum()
for _ in 0..<2 {
    let v = try measureVacuum()
    if v.vacuum < v0.vacuum { v0 = v }
}
let scale0 = perMillion / Double(max(v0.entries, 1))
record("vacuum_ms_per_million", v0.vacuum * scale0 / 1e6, "eager vacuum, ms per million dead entries")
record("gc_pause_ms_per_million", v0.pause * scale0 / 1e6, "  pause of the collection before it (scaled)")
record("sweep_ms_per_million", v0.sweep * scale0 / 1e6, "  of which the mark-end sweep of the table")
record("vacuum_to_pause", v0.vacuum / v0.pause, "  vacuum / pause (target <= 0.25)")
print("  (\(v0.entries) entries vacuumed)")

withExtendedLifetime((live, keys, value, table, churnTable, churnTable64)) {}
if found == 42 { print("") }

if let path = options.json {
    figures["entries"] = Double(n)
    figures["live_heap_mb"] = Double(options.liveMB)
    try writeJSON(figures, to: path)
    print("\nwrote \(path)")
}
