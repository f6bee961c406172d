// Cells made by C and by Swift on one heap, C threads, a root, foreign
// memory. Exits 1 if a figure is not what it must be.
import BoehmGC
import Lisp

#if canImport(Glibc)
    import Glibc
#endif

nonisolated(unsafe) var failures = 0  // main thread only
func check(_ condition: Bool, _ what: String) {
    print((condition ? "ok: " : "FAILED: ") + what)
    if !condition { failures += 1 }
}

// C allocates a list; Swift holds it with a root across collections.
let fromC = try GCRoot(unsafeAddress: lisp_iota(1_000))
GC.collect()
check(lisp_sum(fromC.unsafeAddress.assumingMemoryBound(to: lisp_cell.self)) == 500_500, "a C list survives")

// Swift allocates cells of the same layout and hands them to C.
func swiftList(_ n: Int) throws -> GCRoot {
    var list: GCRoot? = nil
    for i in 1...n {
        let cell = try GCRoot(byteCount: MemoryLayout<lisp_cell>.size)
        cell.withUnsafeMutableBytes { $0.storeBytes(of: i, as: Int.self) }
        try cell.setReference(list, at: 1)
        list = cell
    }
    return list!
}
let fromSwift = try swiftList(1_000)
GC.collect()
check(lisp_sum(fromSwift.unsafeAddress.assumingMemoryBound(to: lisp_cell.self)) == 500_500, "a Swift list, summed by C")

// C threads allocate while others collect.
check(lisp_sum_on_threads(4, 10_000) == 4 * 50_005_000, "four C threads' lists")

// The global environment is held by a root in C.
for value in 1...100 { lisp_define(value) }
GC.collect()
check(lisp_sum(lisp_globals()) == 5_050, "the globals held by a C root")

// Buffers whose bytes are malloc'd: the account makes the collector run,
// and the finalizers free them.
var peak = 0
for i in 0..<20_000 {
    _ = lisp_buffer_make(64 << 10)
    if i % 100 == 0 { peak = max(peak, ForeignMemory.statistics.liveBytes) }
}
GC.collect()
GC.runFinalizers()
let foreign = ForeignMemory.statistics
print(
    "buffers: \(lisp_buffers_freed()) of 20,000 freed, \(foreign.collectionsRequested) collections asked for "
        + "by the account, at most \(peak >> 20) MiB live at once")
check(lisp_buffers_freed() >= 19_900, "dropped buffers are freed")
check(peak < 64 << 20, "1.3 GB of buffers, never more than 64 MiB live at once")
exit(failures == 0 ? 0 : 1)
