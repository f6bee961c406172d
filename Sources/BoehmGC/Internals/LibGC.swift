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

/// GC_realloc: same kind; nil when memory is refused (the object is left).
internal func libgc_realloc(_ pointer: UnsafeMutableRawPointer, _ byteCount: Int) -> UnsafeMutableRawPointer? {
    GC_realloc(pointer, byteCount)
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

/// Whether libgc has started: by this library, or by C code through gc.h
/// before it.
internal func libgc_isStarted() -> Bool {
    GC_is_init_called() != 0
}

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

/// Turns on libgc's generational mode; after GC_INIT.
///
/// Marking is world-stopped only (no time limit), with a full collection
/// after every `fullEvery` partial ones.
internal func libgc_enableGenerationalMode(fullEvery: Int) {
    GC_set_time_limit(UInt(GC_TIME_UNLIMITED))
    _ = GC_call_with_alloc_lock(
        { context in
            GC_set_full_freq(Int32(truncatingIfNeeded: Int(bitPattern: UInt(bitPattern: context))))
            return nil
        }, UnsafeMutableRawPointer(bitPattern: UInt(fullEvery)))
    GC_enable_incremental()
}

internal func libgc_setFreeSpaceDivisor(_ divisor: Int) {
    GC_set_free_space_divisor(GC_word(divisor))
}

internal func libgc_setMaxHeapSize(_ bytes: Int) {
    GC_set_max_heap_size(GC_word(bytes))
}

/// GC_set_max_heap_size after initialisation; 0 means no limit.
///
/// The setter is unsynchronised (gc.h says so), so it runs under the
/// allocation lock; the value travels in the context pointer.
internal func libgc_setMaxHeapSizeUnderLock(_ bytes: Int) {
    _ = GC_call_with_alloc_lock(
        { context in
            GC_set_max_heap_size(GC_word(UInt(bitPattern: context)))
            return nil
        }, UnsafeMutableRawPointer(bitPattern: UInt(bytes)))
}

/// Runs `body` with libgc's allocation lock held (it must not allocate from
/// the GC heap).
internal func libgc_withAllocationLock(_ body: () -> Void) {
    withoutActuallyEscaping(body) { escapable in
        var closure = escapable
        withUnsafeMutablePointer(to: &closure) { pointer in
            _ = GC_call_with_alloc_lock(
                { context in
                    context!.assumingMemoryBound(to: (() -> Void).self).pointee()
                    return nil
                }, pointer)
        }
    }
}

/// GC_set_on_heap_resize: `callback` runs with the allocation lock held
/// each time the heap grows, with the new heap size.
internal func libgc_setOnHeapResize(_ callback: @escaping @convention(c) (GC_word) -> Void) {
    GC_set_on_heap_resize(callback)
}

internal func libgc_setFinalizeOnDemand(_ on: Bool) {
    GC_set_finalize_on_demand(on ? 1 : 0)
}

/// Makes an unsatisfiable allocation return NULL, with errno ENOMEM, instead
/// of aborting.
internal func libgc_setOutOfMemoryReturnsNull() {
    cgc_set_out_of_memory_returns_null()
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
///
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

internal var libgc_success: Int32 { Int32(GC_SUCCESS) }

// MARK: - The shim (CGCSupport)
//
// What the C shim gives the Swift layer, one wrapper each, so this file is
// the one place that lists everything the module calls in C.

typealias WeakRegion = UnsafeMutablePointer<cgc_weak_region>
typealias WeakSlot = cgc_slot

/// Words a slot field holds besides objects (CGC_SLOT_* in the shim).
var slotEmpty: UInt { UInt(CGC_SLOT_EMPTY) }
var slotTombstone: UInt { UInt(CGC_SLOT_TOMBSTONE) }
var slotDead: UInt { UInt(CGC_SLOT_DEAD) }

/// The flags of a weak region: which sides of its entries are weak.
@inline(__always)
func shim_weakFlags(keys: Bool, values: Bool) -> Int32 {
    Int32((keys ? CGC_WEAK_KEYS : 0) | (values ? CGC_WEAK_VALUES : 0))
}

// Lifecycle, threads, fork.

func shim_init() -> Bool { cgc_init() == 0 }
func shim_addUnscannedModule(_ pattern: String) -> Bool { cgc_add_unscanned_module(pattern) == 0 }
@inline(__always) func shim_runtime() -> UnsafeMutableRawPointer? { cgc_runtime() }
func shim_runtimeStart(_ create: @convention(c) () -> UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    cgc_runtime_start(create)
}
func shim_setForkChildHandler(_ handler: @convention(c) () -> Void) { cgc_set_fork_child_handler(handler) }
@inline(__always) func shim_processWideLoad(_ slot: Int32) -> UnsafeMutableRawPointer? { cgc_process_wide_load(slot) }
func shim_processWideStore(_ slot: Int32, _ object: UnsafeMutableRawPointer) { cgc_process_wide_store(slot, object) }
func shim_processWideInstall(_ slot: Int32, _ object: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
    cgc_process_wide_install(slot, object)!
}
@inline(__always) func shim_currentThreadIsRegistered() -> Bool { cgc_current_thread_is_registered() != 0 }
func shim_registerCurrentThread() -> Bool { cgc_register_current_thread() == 0 }
func shim_unregisterCurrentThread() { cgc_unregister_current_thread() }
func shim_registeredThreadCount() -> Int { cgc_registered_thread_count() }
func shim_startThread(
    _ name: String, _ context: UnsafeMutableRawPointer, _ body: @convention(c) (UnsafeMutableRawPointer?) -> Void
) -> Int32 { cgc_start_thread(name, body, context) }
@inline(__always) func shim_gateEnter() { cgc_gate_enter() }
@inline(__always) func shim_gateExit() { cgc_gate_exit() }
@usableFromInline func shim_forkGeneration() -> UInt32 { cgc_current_fork_generation() }

// Root cells.

@inline(__always)
func shim_rootTake(_ object: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UnsafeMutableRawPointer?>? {
    cgc_root_take(object).map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: UnsafeMutableRawPointer?.self) }
}
@inline(__always)
func shim_rootGive(_ cell: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
    cgc_root_give(UnsafeMutableRawPointer(cell).assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
}

// Collections and finalizers.

@inline(__always) func shim_collectionEpoch() -> UInt64 { cgc_collection_epoch() }
func shim_collectionsCompleted() -> UInt64 { cgc_collections_completed() }
func shim_fullCollections() -> UInt64 { cgc_full_collections() }
func shim_lastPauseNanoseconds() -> UInt64 { cgc_last_pause_ns() }
func shim_totalPauseNanoseconds() -> UInt64 { cgc_total_pause_ns() }
func shim_maxPauseNanoseconds() -> UInt64 { cgc_max_pause_ns() }
func shim_lastWeakSweepNanoseconds() -> UInt64 { cgc_weak_sweep_last_duration_ns() }
func shim_lastWeakSweepStoppedNanoseconds() -> UInt64 { cgc_weak_sweep_stopped_last_duration_ns() }
func shim_weakSweepWindows() -> Int { Int(cgc_weak_sweep_windows()) }
@inline(__always) func shim_weakSweepSequence() -> UInt32 { cgc_weak_sweep_sequence() }
func shim_weakSweepWait() { cgc_weak_sweep_wait() }
func shim_setWeakSweepInPause(_ inPause: Bool) { cgc_weak_sweep_set_in_pause(inPause ? 1 : 0) }
func shim_weakSweepInPause() -> Bool { cgc_weak_sweep_in_pause() != 0 }
func shim_setFinalizerHandler(
    _ handler: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void
) { cgc_set_finalizer_handler(handler) }
/// 0 registered, 1 replaced ours (old data out), -1 someone else's (left).
func shim_registerFinalizer(
    _ object: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer,
    _ old: inout UnsafeMutableRawPointer?
) -> Int32 { cgc_register_finalizer(object, data, &old) }
/// 1 removed ours (data out), 0 none, -1 someone else's (put back).
func shim_unregisterFinalizer(_ object: UnsafeMutableRawPointer, _ old: inout UnsafeMutableRawPointer?) -> Int32 {
    cgc_unregister_finalizer(object, &old)
}
func shim_runFinalizers() -> Int { Int(cgc_run_finalizers()) }
func shim_runHooks(_ pass: @convention(c) (UnsafeMutableRawPointer?) -> Void, _ context: UnsafeMutableRawPointer) {
    cgc_run_hooks(pass, context)
}
func shim_finalizerThreadPrepare() { cgc_finalizer_thread_prepare() }
func shim_finalizerThreadWait() { cgc_finalizer_thread_wait() }
func shim_inHookPass() -> Bool { cgc_in_hook_pass() != 0 }
func shim_inFinalizer() -> Bool { cgc_current_finalizer_depth() > 0 }
func shim_hookThreadPrepare() { cgc_hook_thread_prepare() }
func shim_hookThreadWait() { cgc_hook_thread_wait() }
func shim_finalizerThreadCatchUp(timeoutNanoseconds: UInt64) -> Bool {
    cgc_finalizer_thread_catch_up(timeoutNanoseconds) != 0
}
func shim_mallocInUseBytes() -> Int { Int(cgc_malloc_in_use_bytes()) }
func shim_mallocMeasureCounter() -> UInt64 { cgc_malloc_measure_counter() }
/// 0 unreadable, 1 glibc, 2 jemalloc.
func shim_mallocKind() -> Int { Int(cgc_malloc_kind_in_use().rawValue) }
func shim_mallocTreatAsUnreadable() { cgc_malloc_treat_as_unreadable() }
func shim_futexWait(_ word: UnsafeMutableRawPointer, _ expected: UInt32) {
    cgc_futex_wait(word.assumingMemoryBound(to: UInt32.self), expected)
}
func shim_recordLockHeld(_ record: UnsafeMutableRawPointer) { cgc_record_lock_held(record) }
func shim_recordLockReleased(_ record: UnsafeMutableRawPointer) { cgc_record_lock_released(record) }
func shim_recordLockIsHeld(_ record: UnsafeMutableRawPointer) -> Bool { cgc_record_lock_is_held(record) != 0 }
func shim_futexWakeOne(_ word: UnsafeMutableRawPointer) {
    cgc_futex_wake_one(word.assumingMemoryBound(to: UInt32.self))
}

// Weak regions and slots (the table's side of the sweep's protocol; the
// protocol itself is described in cgc_weak.h).

func shim_weakRegionCreate(flags: Int32) -> WeakRegion? { cgc_weak_region_create(flags) }
func shim_weakRegionDestroy(_ region: WeakRegion) { cgc_weak_region_destroy(region) }
func shim_weakRegionPublish(
    _ region: WeakRegion, _ storage: UnsafeMutablePointer<WeakSlot>, _ capacity: Int,
    _ hashes: UnsafeMutableRawPointer?
) { cgc_weak_region_publish(region, storage, capacity, hashes) }
func shim_weakRegionBeginMove(
    _ region: WeakRegion, _ storage: UnsafeMutablePointer<WeakSlot>, _ capacity: Int,
    _ hashes: UnsafeMutableRawPointer?
) { cgc_weak_region_begin_move(region, storage, capacity, hashes) }
@inline(__always) func shim_weakRegionDead(_ region: WeakRegion) -> Int { cgc_weak_region_dead(region) }
@inline(__always) func shim_weakRegionForgetDead(_ region: WeakRegion, _ count: Int) {
    cgc_weak_region_forget_dead(region, count)
}
func shim_weakRegionDeadTotal(_ region: WeakRegion) -> UInt64 { cgc_weak_region_dead_total(region) }
func shim_weakRegionSweepNanoseconds(_ region: WeakRegion) -> UInt64 { cgc_weak_region_sweep_ns(region) }
@inline(__always) func shim_weakNoteYoung(_ region: WeakRegion, _ slot: Int) { cgc_weak_note_young(region, slot) }
@inline(__always) func shim_weakNoteMoved(_ region: WeakRegion) { cgc_weak_note_moved(region) }
@inline(__always) func shim_hide(_ object: UnsafeMutableRawPointer) -> UInt { cgc_hide(object) }
@inline(__always) func shim_loadField(_ field: UnsafeMutablePointer<UInt>) -> UInt { cgc_load_field(field) }
@inline(__always) func shim_storeField(_ field: UnsafeMutablePointer<UInt>, _ word: UInt) {
    cgc_store_field(field, word)
}
@inline(__always) func shim_exchangeField(_ field: UnsafeMutablePointer<UInt>, _ expected: UInt, _ desired: UInt)
    -> Bool
{
    cgc_exchange_field(field, expected, desired) != 0
}
@inline(__always) func shim_loadWeak(_ field: UnsafeMutablePointer<UInt>) -> UnsafeMutableRawPointer? {
    cgc_load_weak(field)
}
@inline(__always) func shim_loadStrong(_ field: UnsafeMutablePointer<UInt>) -> UnsafeMutableRawPointer? {
    cgc_load_strong(field)
}
@inline(__always) func shim_weakCopySlot(
    _ region: WeakRegion, _ from: UnsafeMutablePointer<WeakSlot>, _ to: UnsafeMutablePointer<WeakSlot>,
    _ flags: Int32
) -> Bool { cgc_weak_copy_slot(region, from, to, flags) != 0 }
func shim_weakKillIfUnmarked(_ region: WeakRegion, _ slot: UnsafeMutablePointer<WeakSlot>) {
    _ = cgc_weak_kill_if_unmarked(region, slot)
}
@inline(__always) func shim_keepAlive(_ pointer: UnsafeRawPointer) { cgc_keep_alive(pointer) }
@inline(__always) func shim_prefetch(_ pointer: UnsafeRawPointer?) { cgc_prefetch(pointer) }

// Memory pressure (kernel notices): system calls Swift's Glibc lacks.

func shim_eventfdNonblocking() -> Int32 { cgc_eventfd_nonblocking() }
func shim_fileSystemType(_ descriptor: Int32) -> Int { cgc_file_system_type(descriptor) }
