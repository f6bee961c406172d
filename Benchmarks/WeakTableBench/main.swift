// weak-table-bench: GCWeakTable against the raw libgc floor, in one process.
//
//   swift run -c release weak-table-bench [--entries N] [--live-mb M] [--threads T] [--peers auto|none]
//       [--tiny] [--json PATH]
//
// First, on a fresh heap with no live heap: the floors (a bare GC_MALLOC;
// the same plus a libgc disappearing link, the object dying at once, in C:
// CFloor) and the table's churn insert. Then a live heap of M MB (a scanned
// list, as port-churn's ballast) is kept until the end, and beside it: the
// churn again (collections, capacity, collections run before growing), the
// link floor; insert (allocate a 32-byte key + insert, keys kept), insert
// with keys that exist, T threads inserting into one table and looking up
// in it; lookups (unsafe, in order, random, in batches; the safe subscript,
// which roots the value in a GCRoot; handle(forKey:), which roots it in a
// GCHandle), misses, removes; forced collections of the table of N live
// entries (their pause and the mark-end sweep's share of it, per million
// slots: medians); the eager vacuum of N dead entries. Times are ns per
// operation unless named otherwise, each the best of 3 batches.
//
// Interning (Interning.swift): N names borrowed as bytes, interned as
// symbols in a GCWeakSet (miss and insert, hits in order and at random,
// through a handle, from T threads against one, and 4 threads interning the
// same names at once: duplicates must be 0), and looked up in a weak-value
// table of name objects, by bytes and, as before, through a GC probe
// object. The collections are measured with the sweep after the world
// restarts and, alternating with them, inside the stopped world, where it
// ran before. The peers (Guile 3.0's weak sets and weak tables,
// Benchmarks/guile/weak-intern.scm; Java's String.intern and WeakHashMap,
// Benchmarks/java/WeakIntern.java) run the same figures in processes of
// their own when guile-3.0 and javac are installed.
import ArgumentParser
import BenchmarkDriverSupport
import BenchmarkSupport
import BoehmGC
import CFloor
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct Options: ParsableArguments {
    @Option(help: "Entries per table.")
    var entries = 1_000_000

    @Option(
        name: .customLong("live-mb"),
        help: "Live GC heap kept during the measurements after the fresh-heap ones, in MB (0 for none).")
    var liveMB = 64

    @Option(help: "Threads inserting into one table, and looking up in it, for the threaded figures.")
    var threads = 2

    @Option(help: "Run the Guile and Java peers when installed (auto), or not (none).")
    var peers: PeerChoice = .auto

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    @Flag(help: "The CI size: 20,000 entries, a 4 MB live heap.")
    var tiny = false

    func validate() throws {
        guard entries >= 1_000 else { throw ValidationError("--entries needs at least 1000") }
        guard liveMB >= 0 else { throw ValidationError("--live-mb needs a number >= 0") }
        guard threads >= 1 else { throw ValidationError("--threads needs a positive number") }
    }
}

enum PeerChoice: String, ExpressibleByArgument, CaseIterable {
    case auto
    case none
}

var options = Options.parseOrExit()
if options.tiny { (options.entries, options.liveMB) = (20_000, 4) }
let n = options.entries
let perMillion = 1_000_000.0
var figures: [String: Double] = [:]

@MainActor func record(_ key: String, _ value: Double, _ label: String) {
    figures[key] = decimals(value, 3)
    print("  " + pad(label, 56, left: true) + pad(fixed(value, 2), 10))
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

@inline(never)
func churnInsert(_ table: GCWeakTable, count: Int, value: UnsafeMutableRawPointer) throws -> Double {
    try nanosecondsPerCall(count) {
        let key = try GC.unsafeAllocate(byteCount: 32)
        try table.unsafeSetValue(value, forKey: key)
    }
}

func runFloor(count: Int, keep: Int32) -> Double {
    let ns = cfloor_alloc_link_ns(count, 32, keep)
    precondition(ns >= 0, "floor: out of memory")
    return ns
}

/// The start of a thread made by ``onThreads(_:_:)``.
private final class ThreadStart {
    let body: @Sendable (Int) -> Void
    let index: Int
    init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { (self.body, self.index) = (body, index) }
}

/// Runs `body(i)` for i in 0..<count, each on a thread of its own started
/// now, and waits for all of them; returns the wall nanoseconds from the
/// first start to the last join. The library registers each thread with
/// the collector on its first call.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    var threads: [pthread_t] = []
    let start = monotonicNanoseconds()
    for index in 0..<count {
        let context = Unmanaged.passRetained(ThreadStart(body, index)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { context in
                let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
                start.body(start.index)
                return nil
            }, context)
        precondition(status == 0, "pthread_create: \(status)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
    return Double(monotonicNanoseconds() - start)
}

/// The `part`-th of `parts` equal ranges of 0..<count.
func share(_ part: Int, of parts: Int, _ count: Int) -> Range<Int> {
    (count * part / parts)..<(count * (part + 1) / parts)
}

GC.initialize()
let value = try GCRoot(byteCount: 32)
let valueAddressPointer = value.unsafeAddress
let valueAddress = UInt(bitPattern: valueAddressPointer)
print(
    "weak-table-bench: \(n) entries; a fresh heap, then a live heap of \(options.liveMB) MB; "
        + "\(options.threads) threads for the threaded figures; release build expected")

// MARK: Fresh heap, no live heap: floors and churn

print("\n[fresh heap, no live heap]")
let allocNs = best { cfloor_alloc_ns(n, 32) }
record("floor_alloc_ns", allocNs, "floor: GC_MALLOC(32)")
let floorChurn = best { runFloor(count: n, keep: 0) }
record("floor_churn_ns", floorChurn, "floor: GC_MALLOC(32) + disappearing link, dying")

let keys = try Keep(n)
var table = try GCWeakTable(weakness: .keys)
let churnTable = try GCWeakTable(weakness: .keys)
let churn0 = try best { try churnInsert(churnTable, count: n, value: value.unsafeAddress) }
record("churn_insert_ns", churn0, "churn insert (fresh keys die at once)")
record("churn_ratio_to_floor", churn0 / floorChurn, "  ratio to the dying floor")

// MARK: Live heap

print("\n[\(options.liveMB) MB live heap, kept until the end]")
// 16-byte cells (15-byte requests: libgc adds a byte), as port-churn's ballast.
let ballast = try Ballast(megabytes: options.liveMB, objectBytes: 16, requestBytes: 15)
GC.collect()
print("  heap \(fixed(Double(GC.statistics.heapSize) / 1_048_576, 0)) MB after building the live heap")

let churnTableLive = try GCWeakTable(weakness: .keys)
let gcBefore = GC.collectionCount
let churnLive = try best { try churnInsert(churnTableLive, count: n, value: value.unsafeAddress) }
let churnStatistics = churnTableLive.statistics
// The `64mb` keys are named for the default live heap; `live_heap_mb` says which.
record("churn_insert_64mb_ns", churnLive, "churn insert")
record("churn_live_collections", Double(GC.collectionCount - gcBefore) / 3, "  collections per \(n) churn inserts")
record("churn_live_table_capacity", Double(churnStatistics.capacity), "  table capacity after 3 x \(n)")
record(
    "churn_live_collections_before_growing", Double(churnStatistics.collectionsBeforeGrowing),
    "  collections the table ran before growing")
// Resizes per collection once a table has grown under the churn (3 x N
// inserts, above): 2 x N more, counting the collections they see. Measured
// right after the table's own churn: a table that no insert reaches for
// three collections (while another churns) shrinks, as it should.
@MainActor func resizesPerCollection(_ table: GCWeakTable) throws -> Double {
    let resizesBefore = table.statistics.resizes
    let collectionsBefore = GC.collectionCount
    for _ in 0..<2 { _ = try churnInsert(table, count: n, value: value.unsafeAddress) }
    let collections = GC.collectionCount - collectionsBefore
    return Double(table.statistics.resizes - resizesBefore) / Double(max(collections, 1))
}
record(
    "churn_live_resizes_per_collection", try resizesPerCollection(churnTableLive),
    "  resizes per collection, steady churn (with hysteresis)")
// The same churn with the sizing before the hysteresis, for comparison.
let churnTableImmediate = try GCWeakTable(weakness: .keys, vacuum: .eager, sizing: .immediate)
let churnImmediate = try best { try churnInsert(churnTableImmediate, count: n, value: value.unsafeAddress) }
record("churn_insert_64mb_immediate_ns", churnImmediate, "churn insert, sized without hysteresis")
record(
    "churn_live_resizes_per_collection_immediate", try resizesPerCollection(churnTableImmediate),
    "  resizes per collection, steady churn (without)")
let floorCount = max(n / 20, 1_000)
let gcFloorBefore = cfloor_gc_count()
let floorChurnLive = runFloor(count: floorCount, keep: 0)
record("floor_churn_64mb_ns", floorChurnLive, "floor: GC_MALLOC(32) + link, dying (\(floorCount))")
print("  (\(cfloor_gc_count() - gcFloorBefore) collections forced by the link table)")
record("churn_64mb_vs_floor", churnLive / floorChurnLive, "  table churn / link floor")

// After the churn floors, because libgc's link table never shrinks: n kept
// links grow it to n entries, after which a churn floor would force no
// collections.
let floorInsert = best {
    let ns = runFloor(count: n, keep: 1)
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
    var i = 0
    return try nanosecondsPerCall(n) {
        let key = try GC.unsafeAllocate(byteCount: 32)
        words[i] = key
        i += 1
        try t.unsafeSetValue(v, forKey: key)
    }
}
record("insert_ns", insertNs, "insert (allocate key + insert)")
record("insert_ratio_to_floor", insertNs / floorInsert, "  insert_ns / floor (target <= 2)")
let stats = table.statistics
record(
    "bytes_per_entry", Double(stats.storageBytes) / Double(stats.liveEntries),
    "bytes of storage per live entry (<= 64)")

let insertOnlyNs = try best {
    let t = try GCWeakTable(weakness: .keys)
    let words = keys.words
    let v = value.unsafeAddress
    var i = 0
    return try nanosecondsPerCall(n) {
        try t.unsafeSetValue(v, forKey: words[i]!)
        i += 1
    }
}
record("insert_only_ns", insertOnlyNs, "insert only (keys exist)")

// Threads: one table, each thread allocating and inserting its share of
// the keys (kept), against one thread doing it all the same way.
let threads = options.threads
let keysAddress = UInt(bitPattern: keys.words)
/// Wall ns per insert, `count` threads inserting n keys into a fresh table.
@MainActor func threadedInsert(_ count: Int) throws -> Double {
    keys.clear(n)
    let t = try GCWeakTable(weakness: .keys)
    GC.collect()
    return onThreads(count) { part in
        let words = UnsafeMutablePointer<UnsafeMutableRawPointer?>(bitPattern: keysAddress)!
        let v = UnsafeMutableRawPointer(bitPattern: valueAddress)!
        do {
            for i in share(part, of: count, n) {
                let key = try GC.unsafeAllocate(byteCount: 32)
                words[i] = key
                try t.unsafeSetValue(v, forKey: key)
            }
        } catch {
            fatalError("threaded insert: \(error)")
        }
    } / Double(n)
}
let insertOneThread = try best { try threadedInsert(1) }
let insertThreads = try best { try threadedInsert(threads) }
record("insert_one_thread_ns", insertOneThread, "insert, on 1 new thread (wall ns per insert)")
record("insert_threads_ns", insertThreads, "insert, \(threads) threads into one table (wall ns per insert)")
record("insert_threads_speedup", insertOneThread / insertThreads, "  throughput against 1 thread")

// The table of the insert figure again, n live entries, for the lookups.
keys.clear(n)
table = try GCWeakTable(weakness: .keys)
for i in 0..<n {
    let key = try GC.unsafeAllocate(byteCount: 32)
    keys.words[i] = key
    try table.unsafeSetValue(value.unsafeAddress, forKey: key)
}

/// Wall ns per lookup, `count` threads looking up their share of the keys.
@MainActor func threadedLookup(_ count: Int) -> Double {
    let t = table
    return onThreads(count) { part in
        let words = UnsafeMutablePointer<UnsafeMutableRawPointer?>(bitPattern: keysAddress)!
        var hits = 0
        for i in share(part, of: count, n) where t.unsafeValue(forKey: words[i]!) != nil { hits += 1 }
        precondition(hits == share(part, of: count, n).count, "threaded lookup: \(hits) hits")
    } / Double(n)
}
let lookupOneThread = best { threadedLookup(1) }
let lookupThreads = best { threadedLookup(threads) }
record("lookup_one_thread_ns", lookupOneThread, "lookup hit, on 1 new thread (wall ns per lookup)")
record("lookup_threads_ns", lookupThreads, "lookup hit, \(threads) threads (wall ns per lookup)")
record("lookup_threads_speedup", lookupOneThread / lookupThreads, "  throughput against 1 thread")

// Each loop binds `table` to a local first (a global variable's every
// access is checked for exclusivity: 30 ns in a 20 ns loop) and counts its
// hits locally, adding them to `found` so no lookup is optimised out.
var found = 0
/// Best ns per `unsafeValue` lookup of `words[i]`, for each i of `indices` in
/// their order; hits are added to `found` so the lookups are not optimised out.
@MainActor func lookupNs(_ words: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ indices: [Int]) -> Double {
    best {
        let t = table
        var hits = 0
        let ns = indices.withUnsafeBufferPointer { indices in
            var i = 0
            return nanosecondsPerCall(indices.count) {
                if t.unsafeValue(forKey: words[indices[i]]!) != nil { hits += 1 }
                i += 1
            }
        }
        found += hits
        return ns
    }
}
let lookupOrdered = lookupNs(keys.words, Array(0..<n))
let lookupRandom = lookupNs(keys.words, Array(0..<n).shuffled())
let batch = 256
@MainActor func batchLookupNs() -> Double {
    let t = table
    let words = keys.words
    var hits = 0
    let ns = best {
        withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: batch) { out in
            let batches = (n + batch - 1) / batch
            var start = 0
            return nanosecondsPerCall(batches) {
                let count = min(batch, n - start)
                let slice = UnsafeBufferPointer(
                    start: UnsafeRawPointer(words + start).assumingMemoryBound(to: UnsafeMutableRawPointer.self),
                    count: count)
                t.unsafeValues(forKeys: slice, into: out)
                if out[count - 1] != nil { hits += 1 }
                start += count
            } * Double(batches) / Double(n)
        }
    }
    found += hits
    return ns
}
let lookupBatch = batchLookupNs()
record("lookup_hit_ns", lookupOrdered, "lookup hit, unsafeValue, insertion order")
record("lookup_hit_random_ns", lookupRandom, "lookup hit, unsafeValue, random order")
record("lookup_hit_batch_ns", lookupBatch, "lookup hit, unsafeValues x\(batch), insertion order")

// The safe lookups, through roots of the same keys, in insertion order.
let sample = min(n, 200_000)
var keyRoots: [GCRoot] = []
keyRoots.reserveCapacity(sample)
for i in 0..<sample { keyRoots.append(try! GCRoot(unsafeAddress: keys.words[i]!)) }
@MainActor func safeLookupNs() -> Double {
    let t = table
    var hits = 0
    let ns = best {
        keyRoots.withUnsafeBufferPointer { roots in
            var i = 0
            return nanosecondsPerCall(sample) {
                if t[roots[i]] != nil { hits += 1 }
                i += 1
            }
        }
    }
    found += hits
    return ns
}
@MainActor func handleLookupNs() -> Double {
    let t = table
    var hits = 0
    let ns = best {
        keyRoots.withUnsafeBufferPointer { roots in
            var i = 0
            return nanosecondsPerCall(sample) {
                if let handle = t.handle(forKey: roots[i]), handle.unsafeAddress == valueAddressPointer { hits += 1 }
                i += 1
            }
        }
    }
    found += hits
    return ns
}
let safeLookup = safeLookupNs()
let handleLookup = handleLookupNs()
keyRoots = []
record("lookup_safe_ns", safeLookup, "lookup hit, subscript (roots the value: GCRoot)")
record("lookup_hit_safe_ns", safeLookup, "  (the same, under its old key)")
record("lookup_handle_ns", handleLookup, "lookup hit, handle(forKey:) (roots it: GCHandle)")
record("lookup_safe_to_unsafe", safeLookup / lookupOrdered, "  subscript / unsafeValue")
record("lookup_handle_to_unsafe", handleLookup / lookupOrdered, "  handle(forKey:) / unsafeValue")

let misses = try Keep(n)
for i in 0..<n { misses.words[i] = try GC.unsafeAllocate(byteCount: 32) }
record("lookup_miss_ns", lookupNs(misses.words, Array(0..<n)), "lookup miss, unsafeValue")
misses.clear(n)

let removeNs = try best {
    let t = try GCWeakTable(weakness: .keys)
    for i in 0..<n { try t.unsafeSetValue(value.unsafeAddress, forKey: keys.words[i]!) }
    let words = keys.words
    var i = 0
    return nanosecondsPerCall(n) {
        _ = t.unsafeRemoveValue(forKey: words[i]!)
        i += 1
    }
}
record("remove_ns", removeNs, "remove, unsafeRemoveValue")

// Forced collections with the table's n entries live: the pause, and the
// sweep of every table, after the world restarts (now) and, alternating
// with it, inside the stopped world, where it ran before. Medians of 5
// each. The churn tables give their space back first (an explicit vacuum
// shrinks at once; the hysteresis would keep it for three collections).
churnTableLive.vacuum()
churnTableImmediate.vacuum()
GC.collect()
GC.runFinalizers()
let sweptTables = [table, churnTable, churnTableLive, churnTableImmediate]
let slots = sweptTables.reduce(0) { $0 + $1.statistics.capacity }
let sweepCPUBefore = sweptTables.reduce(Duration.zero) { $0 + $1.statistics.sweepTime }
var pauses: [Double] = []
var sweeps: [Double] = []
var sweepsStopped: [Double] = []
var collects: [Double] = []
var pausesBefore: [Double] = []
var sweepsBefore: [Double] = []
var collectsBefore: [Double] = []
for _ in 0..<5 {
    for inPause in [false, true] {
        GCWeakTable.sweepsInPause = inPause
        let wall = elapsedNanoseconds { GC.collect() }
        let statistics = GC.statistics
        if inPause {
            pausesBefore.append(statistics.lastPause.nanoseconds)
            sweepsBefore.append(statistics.lastWeakSweepStopped.nanoseconds)
            collectsBefore.append(wall)
        } else {
            pauses.append(statistics.lastPause.nanoseconds)
            sweeps.append(statistics.lastWeakSweep.nanoseconds)
            sweepsStopped.append(statistics.lastWeakSweepStopped.nanoseconds)
            collects.append(wall)
        }
    }
}
GCWeakTable.sweepsInPause = false
let sweepCPU = (sweptTables.reduce(Duration.zero) { $0 + $1.statistics.sweepTime } - sweepCPUBefore).nanoseconds / 10
GC.runFinalizers()
let perMillionSlots = perMillion / Double(slots)
print("  forced collections, \(n) live entries in \(slots) slots of all tables (medians of 5):")
record("table_slots", Double(slots), "table slots swept")
record("gc_pause_ms", median(pauses) / 1e6, "pause (world stopped), ms")
record("sweep_ms", median(sweeps) / 1e6, "sweep after the world restarts (wall), ms")
record("sweep_to_pause", median(sweeps) / median(pauses), "  sweep / pause")
record("sweep_stopped_ms", median(sweepsStopped) / 1e6, "sweep's part of the pause (listing its jobs), ms")
record(
    "sweep_stopped_to_pause", median(sweepsStopped) / median(pauses),
    "  / pause (goal at 10 M entries: <= 0.10)")
record("gc_collect_ms", median(collects) / 1e6, "whole collection (GC.collect), ms")
record("gc_pause_in_pause_ms", median(pausesBefore) / 1e6, "before: pause with the sweep inside it, ms")
record("sweep_in_pause_ms", median(sweepsBefore) / 1e6, "  its sweep, ms")
record("sweep_in_pause_to_pause", median(sweepsBefore) / median(pausesBefore), "  sweep / pause")
record("gc_collect_in_pause_ms", median(collectsBefore) / 1e6, "  whole collection, ms")
record("pause_to_pause_in_pause", median(pauses) / median(pausesBefore), "pause now / pause before")
record("gc_pause_ms_per_million", median(pauses) / 1e6 * perMillionSlots, "pause, ms per million slots")
record("sweep_ms_per_million", median(sweeps) / 1e6 * perMillionSlots, "sweep (wall), ms per million slots")
record("sweep_cpu_ms_per_million", sweepCPU / 1e6 * perMillionSlots, "sweep (CPU, all threads), ms per million slots")

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
    let statistics = GC.statistics
    GC.runFinalizers()
    let after = table.statistics
    let vacuum = after.vacuumTime - before.vacuumTime
    return (
        vacuum.nanoseconds, statistics.lastPause.nanoseconds, statistics.lastWeakSweep.nanoseconds,
        after.entriesVacuumed - before.entriesVacuumed
    )
}
var vacuum = try measureVacuum()
for _ in 0..<2 {
    let next = try measureVacuum()
    if next.vacuum < vacuum.vacuum { vacuum = next }
}
let perMillionDead = perMillion / Double(max(vacuum.entries, 1))
print("  eager vacuum of \(vacuum.entries) dead entries (best of 3):")
record("vacuum_ms_per_million", vacuum.vacuum * perMillionDead / 1e6, "eager vacuum, ms per million dead entries")
record("vacuum_64mb_ms_per_million", vacuum.vacuum * perMillionDead / 1e6, "  (the same, under its old key)")
record(
    "gc_pause_64mb_ms_per_million", vacuum.pause * perMillionDead / 1e6,
    "  its collection's pause, ms per million dead entries")
record("vacuum_to_pause", vacuum.vacuum / vacuum.pause, "  vacuum / pause (target <= 0.25)")
// The sweep left the pause: the collection's pause and sweep together, as
// the pause was before.
record(
    "vacuum_to_pause_and_sweep", vacuum.vacuum / (vacuum.pause + vacuum.sweep),
    "  vacuum / (pause + sweep), the pause as it was before")

// MARK: Interning

print("\n[interning, \(options.liveMB) MB live heap: \(n) names borrowed as bytes, symbols in a GCWeakSet]")
let names = Names(n)
let symbolKeep = try Keep(n)
var symbols = try GCWeakSet()
// Interning every name into a new set: a miss, a symbol made, an insert.
let internMiss = try best {
    symbolKeep.clear(n)
    symbols = try GCWeakSet()
    GC.collect()
    let set = symbols
    let words = symbolKeep.words
    var i = 0
    return try nanosecondsPerCall(n) {
        words[i] = try intern(i, of: names, in: set)
        i += 1
    }
}
record("intern_miss_insert_ns", internMiss, "intern a new name (miss, make the symbol, insert)")
/// Best ns per lookup of name `indices[k]` by its bytes, for each k in order.
@MainActor func internHitNs(_ indices: [Int]) -> Double {
    let set = symbols
    var hits = 0
    let ns = best {
        indices.withUnsafeBufferPointer { indices in
            var k = 0
            return nanosecondsPerCall(indices.count) {
                if lookUp(indices[k], of: names, in: set) != nil { hits += 1 }
                k += 1
            }
        }
    }
    precondition(hits == 3 * indices.count, "intern hits: \(hits) of \(3 * indices.count)")
    found += hits
    return ns
}
let randomOrder = Array(0..<n).shuffled()
let internHit = internHitNs(Array(0..<n))
let internHitRandom = internHitNs(randomOrder)
// A working set that stays in the cache: 10,000 of the names, again and
// again (interning in a program mostly meets names it met recently).
let hotNames = min(n, 10_000)
let internHitHot = internHitNs((0..<n).map { $0 % hotNames })
// The floor: the same lookups in a plain C table of the same layout.
let internFloor = randomOrder.withUnsafeBufferPointer { order in
    (
        cfloor_intern_hit_ns(names.bytes.assumingMemoryBound(to: UInt8.self), names.starts, n, nil),
        cfloor_intern_hit_ns(names.bytes.assumingMemoryBound(to: UInt8.self), names.starts, n, order.baseAddress)
    )
}
precondition(internFloor.0 >= 0 && internFloor.1 >= 0, "intern floor: out of memory")
record("intern_hit_ns", internHit, "intern hit: lookup by borrowed bytes, name order (goal <= 50)")
record("intern_floor_ns", internFloor.0, "  floor: the same lookups in a plain C table")
record("intern_hit_to_floor", internHit / internFloor.0, "  intern_hit_ns / floor")
record("intern_hit_random_ns", internHitRandom, "intern hit, random order")
record("intern_floor_random_ns", internFloor.1, "  floor, random order")
record("intern_hit_hot_ns", internHitHot, "intern hit, \(hotNames) of the names again and again")
let internGetOrInsertHit = try best {
    let set = symbols
    var i = 0
    var hits = 0
    let ns = try nanosecondsPerCall(n) {
        if try intern(i, of: names, in: set) == symbolKeep.words[i] { hits += 1 }
        i += 1
    }
    precondition(hits == n, "get-or-insert hits: \(hits) of \(n)")
    return ns
}
record("intern_get_or_insert_hit_ns", internGetOrInsertHit, "intern hit through get-or-insert")
let internHandleHit = best {
    let set = symbols
    var i = 0
    var hits = 0
    let ns = nanosecondsPerCall(n) {
        let name = names[i]
        if let handle = set.handle(hash: nameHash(name), where: { holdsName($0, name) }),
            handle.unsafeAddress == symbolKeep.words[i]
        {
            hits += 1
        }
        i += 1
    }
    found += hits
    return ns
}
record("intern_hit_handle_ns", internHandleHit, "intern hit, rooted in a GCHandle (safe)")

// The shape of the first try: a weak-value table from name objects
// to symbols, looked up by bytes, and, as before lookups by hash and match,
// through a GC probe object made for each lookup.
let nameTable = try GCWeakTable(weakness: .values, hashing: nameObjectHashing)
for i in 0..<n { try nameTable.unsafeSetValue(symbolKeep.words[i]!, forKey: try makeNameObject(names[i])) }
let tableHit = best {
    let t = nameTable
    var i = 0
    var hits = 0
    let ns = nanosecondsPerCall(n) {
        let name = names[i]
        if t.unsafeValue(hash: nameHash(name), where: { holdsName($0, name) }) != nil { hits += 1 }
        i += 1
    }
    found += hits
    return ns
}
let probeHit = try best {
    let t = nameTable
    var i = 0
    var hits = 0
    let ns = try nanosecondsPerCall(n) {
        let probe = try makeNameObject(names[i])
        if t.unsafeValue(forKey: probe) != nil { hits += 1 }
        i += 1
    }
    found += hits
    return ns
}
record("intern_table_hit_ns", tableHit, "weak-value table name -> symbol: hit by bytes")
record("intern_probe_object_hit_ns", probeHit, "  the same through a GC probe object (before)")

// Threads: T threads looking up their share of the names, against one.
let namesAddress = UInt(bitPattern: Unmanaged.passUnretained(names).toOpaque())
let symbolsForThreads = symbols
/// CPU nanoseconds the threads spent, summed (CLOCK_THREAD_CPUTIME_ID, read
/// by each thread around its share).
final class ThreadCPU: Sendable {
    let total = Atomic<Int>(0)
}
/// Wall ns per lookup and CPU ns per lookup (summed over the threads) of
/// `count` threads looking up their share of the names.
@MainActor func threadedIntern(_ count: Int) -> (wall: Double, cpu: Double) {
    let cpu = ThreadCPU()
    let wall =
        onThreads(count) { part in
            let names = Unmanaged<Names>.fromOpaque(UnsafeRawPointer(bitPattern: namesAddress)!)
                .takeUnretainedValue()
            var hits = 0
            var start = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
            for i in share(part, of: count, n) where lookUp(i, of: names, in: symbolsForThreads) != nil { hits += 1 }
            var end = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
            let spent = (end.tv_sec - start.tv_sec) * 1_000_000_000 + (end.tv_nsec - start.tv_nsec)
            precondition(hits == share(part, of: count, n).count, "threaded intern: \(hits) hits")
            cpu.total.add(spent, ordering: .relaxed)
        } / Double(n)
    return (wall, Double(cpu.total.load(ordering: .relaxed)) / Double(n))
}
let internOneThread = (0..<3).map { _ in threadedIntern(1) }.min { $0.wall < $1.wall }!
let internThreads = (0..<3).map { _ in threadedIntern(threads) }.min { $0.wall < $1.wall }!
record("intern_one_thread_ns", internOneThread.wall, "intern hit, on 1 new thread (wall ns per lookup)")
record("intern_threads_ns", internThreads.wall, "intern hit, \(threads) threads (wall ns per lookup)")
record(
    "intern_threads_speedup", internOneThread.wall / internThreads.wall,
    "  throughput against 1 thread (goal >= 1.7)")
record(
    "intern_threads_cpu_ratio", internThreads.cpu / internOneThread.cpu,
    "  CPU time per lookup, \(threads) threads / 1 (1 = no contention)")

// Get-or-insert from 4 threads at once: each interns the same names into a
// new set, from its own starting point, and keeps its symbols; a name whose
// threads got different symbols is a duplicate.
let raceNames = min(n, 200_000)
let raceKeeps = try (0..<4).map { _ in try Keep(raceNames) }
let raceKeepAddresses = raceKeeps.map { UInt(bitPattern: $0.words) }
let raceSet = try GCWeakSet()
let raceNs =
    onThreads(4) { thread in
        let names = Unmanaged<Names>.fromOpaque(UnsafeRawPointer(bitPattern: namesAddress)!).takeUnretainedValue()
        let words = UnsafeMutablePointer<UnsafeMutableRawPointer?>(bitPattern: raceKeepAddresses[thread])!
        do {
            for k in 0..<raceNames {
                let i = (k + thread * raceNames / 4) % raceNames
                words[i] = try intern(i, of: names, in: raceSet)
            }
        } catch {
            fatalError("get-or-insert race: \(error)")
        }
    } / Double(4 * raceNames)
var duplicates = 0
for i in 0..<raceNames where Set(raceKeeps.map { UInt(bitPattern: $0.words[i]) }).count != 1 { duplicates += 1 }
record("get_or_insert_threads_ns", raceNs, "get-or-insert, 4 threads, the same \(raceNames) names (wall ns per call)")
record("get_or_insert_duplicates", Double(duplicates), "  names with more than one symbol (must be 0)")
record("get_or_insert_set_count", Double(raceSet.count), "  symbols in the set (\(raceNames) names)")

// MARK: Peers

if options.peers == .auto {
    print("\n[peers, same machine: \(n) names, \(options.liveMB) MB live heap]")
    let peerRuns = await runPeers(entries: n, liveMB: options.liveMB)
    let rows: [(key: String, ours: Double?, label: String)] = [
        ("intern_hit_ns", internHit, "intern hit, name order, ns"),
        ("intern_hit_random_ns", internHitRandom, "intern hit, random order, ns"),
        ("intern_miss_insert_ns", internMiss, "intern a new name, ns"),
        ("weak_insert_ns", insertOnlyNs, "weak table insert (keys exist), ns"),
        ("weak_hit_ns", lookupOrdered, "weak table hit, ns"),
        ("weak_content_hit_ns", tableHit, "weak table hit by content, ns"),
        ("gc_ms", median(collects) / 1e6, "forced collection, all of it live, ms"),
    ]
    print("  " + pad("", 40, left: true) + pad("ours", 10) + peerRuns.map { pad($0.name, 12) }.joined())
    for row in rows {
        let peerCells = peerRuns.map { run in pad(run.fields[row.key].map { fixed($0, 1) } ?? "-", 12) }
        let ours = pad(row.ours.map { fixed($0, 1) } ?? "-", 10)
        print("  " + pad(row.label, 40, left: true) + ours + peerCells.joined())
    }
    for run in peerRuns {
        let prefix = run.name.hasPrefix("Guile") ? "guile_" : "java_"
        if let skipped = run.skipped {
            print("  \(run.name): not run (\(skipped))")
            continue
        }
        for (key, value) in run.fields where !["entries", "ballast_mb"].contains(key) {
            figures[prefix + key] = decimals(value, 3)
        }
    }
    print(
        "  (Guile: string->symbol and a weak-key hash table, a disappearing link per entry; Java: String.intern"
            + " with a new String per call, and WeakHashMap; their heaps differ from ours)")
}

withExtendedLifetime((ballast, keys, value, table, churnTable, churnTableLive, churnTableImmediate)) {}
withExtendedLifetime((names, symbolKeep, symbols, nameTable, raceKeeps, raceSet)) {}
if found == 42 { print("") }

if let path = options.json {
    figures["entries"] = Double(n)
    figures["live_heap_mb"] = Double(options.liveMB)
    figures["threads"] = Double(threads)
    try writeJSON(figures, to: path)
    print("\nwrote \(path)")
}
