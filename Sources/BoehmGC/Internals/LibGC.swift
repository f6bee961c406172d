internal import CBoehmGC
internal import CGCSupport

// Every call into libgc from the Swift layer goes through one of these
// wrappers (the pattern of swift-system's Syscalls.swift): one place lists the
// C surface we depend on and converts its types. The shim's own `cgc_`
// functions are called directly; they are ours already.

// MARK: Allocation

/// GC_malloc (scanned, zeroed) or GC_malloc_atomic (pointer-free, not zeroed).
@inline(__always)
internal func libgc_malloc(_ byteCount: Int, pointerFree: Bool) -> UnsafeMutableRawPointer? {
    pointerFree ? GC_malloc_atomic(byteCount) : GC_malloc(byteCount)
}

/// GC_malloc_uncollectable: scanned, zeroed, never collected.
@inline(__always)
internal func libgc_mallocUncollectable(_ byteCount: Int) -> UnsafeMutableRawPointer? {
    GC_malloc_uncollectable(byteCount)
}

/// GC_malloc_atomic_uncollectable: pointer-free, never collected.
@inline(__always)
internal func libgc_mallocAtomicUncollectable(_ byteCount: Int) -> UnsafeMutableRawPointer? {
    GC_malloc_atomic_uncollectable(byteCount)
}

@inline(__always)
internal func libgc_free(_ pointer: UnsafeMutableRawPointer) {
    GC_free(pointer)
}

/// The start of the heap object containing `pointer`, or nil.
@inline(__always)
internal func libgc_base(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
    GC_base(pointer)
}

/// The usable size of the heap object starting at `object`.
@inline(__always)
internal func libgc_size(_ object: UnsafeMutableRawPointer) -> Int {
    Int(GC_size(object))
}

// MARK: Collection and settings

internal func libgc_gcollect() {
    GC_gcollect()
}

/// A collection the collector may keep partial: in generational mode it
/// starts one (partial, or full when it is due); otherwise a full one.
internal func libgc_collectSome() {
    if GC_is_incremental_mode() != 0 {
        GC_start_incremental_collection()
    } else {
        GC_gcollect()
    }
}

/// libgc's generational mode, world-stopped marking only (no time limit), a
/// full collection after every `fullEvery` partial ones. After GC_INIT.
internal func libgc_enableGenerationalMode(fullEvery: Int) {
    GC_set_time_limit(UInt(GC_TIME_UNLIMITED))
    _ = GC_call_with_alloc_lock(
        { context in
            GC_set_full_freq(Int32(truncatingIfNeeded: Int(bitPattern: UInt(bitPattern: context))))
            return nil
        }, UnsafeMutableRawPointer(bitPattern: UInt(fullEvery)))
    GC_enable_incremental()
}

internal func libgc_isGenerational() -> Bool {
    GC_is_incremental_mode() != 0
}

internal func libgc_setFreeSpaceDivisor(_ divisor: Int) {
    GC_set_free_space_divisor(GC_word(divisor))
}

internal func libgc_setMaxHeapSize(_ bytes: Int) {
    GC_set_max_heap_size(GC_word(bytes))
}

/// GC_set_max_heap_size after initialisation: the setter is unsynchronised
/// (gc.h says so), so it runs under the allocation lock; the value travels in
/// the context pointer. 0 means no limit.
internal func libgc_setMaxHeapSizeUnderLock(_ bytes: Int) {
    _ = GC_call_with_alloc_lock(
        { context in
            GC_set_max_heap_size(GC_word(UInt(bitPattern: context)))
            return nil
        }, UnsafeMutableRawPointer(bitPattern: UInt(bytes)))
}

internal func libgc_setFinalizeOnDemand(_ on: Bool) {
    GC_set_finalize_on_demand(on ? 1 : 0)
}

/// Makes an unsatisfiable allocation return NULL instead of aborting.
internal func libgc_setOutOfMemoryReturnsNull() {
    GC_set_oom_fn { _ in nil }
}

internal func libgc_setFinalizerNotifier(_ notifier: @convention(c) () -> Void) {
    GC_set_finalizer_notifier(notifier)
}

internal func libgc_heapSize() -> Int {
    Int(GC_get_heap_size())
}

/// Grows the heap by `bytes`; false if the system refused.
internal func libgc_expandHeap(by bytes: Int) -> Bool {
    GC_expand_hp(bytes) != 0
}

/// GC_get_heap_usage_safe: heap, free, unmapped, since-GC and total bytes,
/// read together under the collector's lock.
internal func libgc_heapUsage() -> (heap: Int, free: Int, unmapped: Int, sinceGC: Int, total: Int) {
    var heap: GC_word = 0
    var free: GC_word = 0
    var unmapped: GC_word = 0
    var sinceGC: GC_word = 0
    var total: GC_word = 0
    GC_get_heap_usage_safe(&heap, &free, &unmapped, &sinceGC, &total)
    return (Int(heap), Int(free), Int(unmapped), Int(sinceGC), Int(total))
}

// MARK: Disappearing links

/// Registers a short (`long == false`) or long link at `link` to `object`.
/// Returns GC_SUCCESS, GC_DUPLICATE or GC_NO_MEMORY.
internal func libgc_registerLink(
    _ link: UnsafeMutablePointer<UnsafeMutableRawPointer?>, to object: UnsafeMutableRawPointer, long: Bool
) -> Int32 {
    long ? GC_register_long_link(link, object) : GC_general_register_disappearing_link(link, object)
}

internal func libgc_unregisterLink(_ link: UnsafeMutablePointer<UnsafeMutableRawPointer?>, long: Bool) {
    _ = long ? GC_unregister_long_link(link) : GC_unregister_disappearing_link(link)
}

/// Reads the word at `cell` under the allocation lock, so a collection
/// cannot clear the link and free the target between the read and its use.
internal func libgc_readUnderLock(_ cell: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> UnsafeMutableRawPointer? {
    GC_call_with_alloc_lock({ $0?.load(as: UnsafeMutableRawPointer?.self) }, cell)
}

internal let libgc_success = Int32(GC_SUCCESS)

// MARK: Roots

/// Registers [start, start + byteCount) as a root range the collector scans.
internal func libgc_addRoots(_ start: UnsafeMutableRawPointer, byteCount: Int) {
    GC_add_roots(start, start + byteCount)
}
