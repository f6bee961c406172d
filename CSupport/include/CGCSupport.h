// The C shim of BoehmGC: only what Swift cannot do.
//
// - GC_INIT is a macro.
// - Thread registration must be fast (a thread-local flag) and must unblock
//   the signals libgc stops the world with; Dispatch blocks them.
// - The collection-event callback runs with the collector's lock held (and,
//   at mark end, the world stopped): it counts collections, times pauses,
//   marks dead the weak-table entries whose weak object was not marked (just
//   after the world restarts, still inside the collection), and wakes the
//   finalizer thread. No allocation happens there.
// - A finalizer batch must not leave object addresses on a stack the
//   collector scans, so it clears the dead stack below it before returning.
// Policy, naming, errors and ownership live in Swift.
#ifndef CGCSUPPORT_H
#define CGCSUPPORT_H

// shim.h (GC_THREADS, then gc.h) lives with the system library target.
#include "../../Sources/CBoehmGC/shim.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: Lifecycle

/// Initialises the collector on the calling thread, any thread (GC_INIT),
/// allows other threads to register, installs the collection-event and
/// has-static-roots callbacks, and registers the calling thread. When C code
/// started libgc through gc.h already, adopts it (the collection counts go
/// on from GC_get_gc_no()). Call once, from the `create` function of
/// cgc_runtime_start, after the GC_set_* settings and
/// cgc_add_unscanned_module. Returns 0, or -1 if libgc refused to register
/// the calling thread.
int cgc_init(void);

/// Makes an allocation that cannot be satisfied return NULL with errno
/// ENOMEM (GC_set_oom_fn) instead of aborting.
void cgc_set_out_of_memory_returns_null(void);

/// The library's runtime object (opaque to C), or NULL before it started.
void *cgc_runtime(void);

/// Returns the runtime object, calling `create` to make it first if there
/// is none, under a lock that fork also takes (a fork waits for a start in
/// progress, so no child inherits a half-made runtime).
void *cgc_runtime_start(void *(*create)(void));

/// Slots for process-wide objects of the package's other modules (see
/// ProcessWide in the Swift layer): plain C storage, zero at load, so no
/// lazy initialisation a fork could copy half-done.
#define CGC_PROCESS_WIDE_SLOTS 8
extern void *cgc_process_wide[CGC_PROCESS_WIDE_SLOTS];

static inline void *cgc_process_wide_load(int slot) {
    return __atomic_load_n(&cgc_process_wide[slot], __ATOMIC_ACQUIRE);
}

static inline void cgc_process_wide_store(int slot, void *object) {
    __atomic_store_n(&cgc_process_wide[slot], object, __ATOMIC_RELEASE);
}

/// Puts `object` in an empty slot (compare-and-swap) and returns it; if the
/// slot was filled first, returns the object already there (for objects made
/// before the collector starts, without a lock).
static inline void *cgc_process_wide_install(int slot, void *object) {
    void *expected = NULL;
    if (__atomic_compare_exchange_n(&cgc_process_wide[slot], &expected, object, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return object;
    return expected;
}

/// Sets what runs in a forked child once the shim's own state is reset (the
/// Swift layer restarts its threads there).
void cgc_set_fork_child_handler(void (*in_child)(void));

/// Leaves every loaded shared object whose path contains `pattern` out of
/// the collector's roots. Before cgc_init only. Returns 0, or -1 when the
/// table of 16 patterns is full or memory is short.
int cgc_add_unscanned_module(const char *pattern);

// MARK: Threads

/// A registered thread, as the fork handler sees it: how deep it is inside
/// sections of the library (cgc_gate_enter).
typedef struct cgc_thread_record {
    struct cgc_thread_record *next;
    struct cgc_thread_record *prev;
    /// Read and written only with __atomic builtins.
    long depth;
} cgc_thread_record;

/// 1 once the current thread is registered by cgc_register_current_thread.
extern _Thread_local int cgc_thread_registered;
/// The calling thread's record (linked while registered).
extern _Thread_local cgc_thread_record cgc_self;

/// Registers the calling thread with the collector if it is not yet known,
/// unblocks libgc's suspend and restart signals, and arranges for the thread
/// to be unregistered when it exits (signals unblocked again first). Returns
/// 0, or -1 if libgc refused.
int cgc_register_current_thread(void);

/// The fast path every API entry takes: a thread-local load. (Swift reads
/// thread-locals through this, not the variable.)
static inline int cgc_current_thread_is_registered(void) {
    return cgc_thread_registered;
}

/// Unregisters the calling thread now (it re-registers on next use).
void cgc_unregister_current_thread(void);

/// Threads registered through this shim and not yet unregistered.
long cgc_registered_thread_count(void);

// MARK: The gate (fork safety)
//
// Every lock of the library is taken inside the gate: a thread entering
// increments its depth; the fork handler closes the gate and waits until no
// other thread is inside, so no lock of ours is held when fork copies the
// process. Entering while the gate is closed waits at the outermost level
// only (a thread already inside holds locks the fork is waiting for).

/// (Both read and written only with __atomic builtins.)
/// Nonzero while a fork is waiting for threads to leave the library.
extern int cgc_gate_pending;
/// Starts at 1 and grows by one in each forked child.
extern unsigned cgc_fork_generation;

void cgc_gate_wait(void);
/// Registers the calling thread, then enters. Returns -1 if libgc refused.
int cgc_gate_enter_unregistered(void);

/// Enters a section. A full barrier orders the depth before the read of
/// cgc_gate_pending (the fork handler writes them the other way round).
static inline void cgc_gate_enter(void) {
    if (__builtin_expect(!cgc_thread_registered, 0)) {
        if (cgc_gate_enter_unregistered() == 0) return;
        // libgc refused the thread: enter anyway (it holds no GC pointers).
    }
    if (__atomic_fetch_add(&cgc_self.depth, 1, __ATOMIC_SEQ_CST) == 0
        && __atomic_load_n(&cgc_gate_pending, __ATOMIC_SEQ_CST))
        cgc_gate_wait();
}

static inline void cgc_gate_exit(void) {
    __atomic_fetch_sub(&cgc_self.depth, 1, __ATOMIC_RELEASE);
}

static inline unsigned cgc_current_fork_generation(void) {
    return __atomic_load_n(&cgc_fork_generation, __ATOMIC_RELAXED);
}

// MARK: Root cells

/// Cells a thread keeps free before it gives some back to the shared pool.
#define CGC_ROOT_LOCAL_MAX 256

/// This thread's free root cells (each holds the next one's address).
extern _Thread_local void **cgc_root_free;
extern _Thread_local size_t cgc_root_free_count;

void **cgc_root_take_slow(void *object);
void cgc_root_trim(void);

/// A root cell holding `object`, from this thread's free list (refilled from
/// the shared pool in batches): a live cell keeps its object alive. NULL if
/// malloc refused a new slab. No lock and no atomic operation on the fast
/// path.
static inline void **cgc_root_take(void *object) {
    void **cell = cgc_root_free;
    if (__builtin_expect(cell == NULL, 0)) return cgc_root_take_slow(object);
    cgc_root_free = (void **)*cell;
    cgc_root_free_count--;
    *cell = object;
    return cell;
}

/// Gives a cell back (to this thread's list, whichever thread took it).
static inline void cgc_root_give(void **cell) {
    *cell = cgc_root_free;
    cgc_root_free = cell;
    if (__builtin_expect(++cgc_root_free_count > CGC_ROOT_LOCAL_MAX, 0)) cgc_root_trim();
}

// MARK: Collection events and statistics

/// Completed collections, full and partial (GC_EVENT_RECLAIM_END).
uint64_t cgc_collection_epoch(void);
/// Of those, full collections (every one outside generational mode).
uint64_t cgc_full_collections(void);
/// The time the world stood still in the last collection, in ns.
uint64_t cgc_last_pause_ns(void);
/// Sum of all such pauses, in ns.
uint64_t cgc_total_pause_ns(void);
/// Longest pause seen, in ns.
uint64_t cgc_max_pause_ns(void);

// MARK: Finalizers

/// The function the trampoline forwards to: (object, client data).
typedef void (*cgc_finalizer_handler)(void *object, void *data);

/// Sets the handler every finalizer registered with cgc_register_finalizer
/// forwards to. Set once, at initialisation.
void cgc_set_finalizer_handler(cgc_finalizer_handler handler);

/// Registers the trampoline as `object`'s finalizer (no-order semantics).
/// Returns 0; 1 if the object already had a trampoline finalizer, which is
/// then replaced and whose data is stored in *old_data; -1 if it had a
/// finalizer of someone else's, which is left in place.
int cgc_register_finalizer(void *object, void *data, void **old_data);

/// Removes the trampoline finalizer of `object`. Returns 1 and its data in
/// *old_data if there was one, 0 if there was none (nothing changes),
/// -1 if the finalizer is someone else's (it is put back).
int cgc_unregister_finalizer(void *object, void **old_data);

/// Sets a C finalizer on `object` (the C API's bgc_set_finalizer): `fn(object,
/// data)` runs once, as the trampoline's finalizers do, and `data` stays
/// alive until then. Returns 0; -1 if the object has a finalizer already
/// (left in place); -2 if the record cannot be allocated.
int cgc_set_c_finalizer(void *object, void (*fn)(void *object, void *data), void *data);

/// Removes a finalizer set by cgc_set_c_finalizer. Returns 0 if one was
/// removed, -1 if there was none of that kind (another stays in place).
int cgc_remove_c_finalizer(void *object);

/// Runs every finalizer that is ready (GC_invoke_finalizers until none is
/// left), then `then` (the post-GC hooks; may be NULL), then clears the dead
/// stack below. One batch runs at a time: the call waits for a batch running
/// on another thread (except from inside a finalizer or hook). Returns how
/// many finalizers ran.
size_t cgc_run_finalizers(void (*then)(void));

/// Zeroes a few pages of dead stack below the caller, so stale copies of
/// object addresses left by returned frames cannot keep objects alive.
void cgc_clear_dead_stack(void);

/// Depth of finalizer calls on this thread (0 outside finalizers).
extern _Thread_local int cgc_finalizer_depth;

// MARK: The finalizer thread

/// Sets up the finalizer thread's wake-up: libgc's finalizer notifier (a
/// collection queued finalizers) and the end of every collection (post-GC
/// hooks) post it. Call once, before the thread starts.
void cgc_finalizer_thread_prepare(void);

/// Waits for the next wake-up (the finalizer thread's loop).
void cgc_finalizer_thread_wait(void);

/// Wakes the finalizer thread, if there is one. Async-signal-safe; never
/// allocates.
void cgc_wake_finalizer_thread(void);

/// Waits until the finalizer thread has run every finalizer that is ready
/// (and the batch that ran them has ended), or until `timeout_ns` passed.
/// Returns at once, with 1, when there is no finalizer thread, nothing is
/// ready, or the caller is a finalizer or hook. Returns 1 if the thread
/// caught up, 0 at the timeout. Takes no lock of libgc's and allocates
/// nothing.
int cgc_finalizer_thread_catch_up(uint64_t timeout_ns);

// MARK: Foreign memory (ForeignResource)

/// Which malloc the process uses, as far as the library can read it.
typedef enum {
    /// Not one the library can read (neither glibc's malloc nor jemalloc):
    /// measured sizes fall back to a fixed figure.
    CGC_MALLOC_UNREADABLE = 0,
    /// glibc's own malloc: mallinfo2, process-wide.
    CGC_MALLOC_GLIBC = 1,
    /// jemalloc (preloaded or linked): mallctl, with counters per thread.
    CGC_MALLOC_JEMALLOC = 2,
} cgc_malloc_kind;

/// The process's malloc, found once (dlsym: jemalloc's `mallctl`, and
/// whether `malloc` is glibc's own).
cgc_malloc_kind cgc_malloc_kind_in_use(void);

/// Test hook: from now on the process's malloc is taken to be unreadable,
/// whatever it is (the fallback of every measurement).
void cgc_malloc_treat_as_unreadable(void);

/// Bytes of malloc memory in use by the whole process: glibc mallinfo2
/// (arena bytes in use plus mmapped chunks), or jemalloc's `stats.allocated`
/// (after an `epoch` refresh); 0 for an unreadable malloc. Swift cannot call
/// either: <malloc.h> is not in the Glibc module, mallinfo2 returns a
/// struct by value, and mallctl is found at run time.
size_t cgc_malloc_in_use_bytes(void);

/// A counter whose difference around a call is what the call allocated and
/// did not free: under jemalloc the calling thread's own (`thread.allocated`
/// less `thread.deallocated`, so other threads do not skew it), under
/// glibc's malloc the process's bytes in use; 0 for an unreadable malloc.
uint64_t cgc_malloc_measure_counter(void);

/// Waits on the 32-bit word at `word` while it holds `expected` (futex
/// FUTEX_WAIT, process-private; returns at once if it holds another value,
/// and may return spuriously). The lock of a foreign resource's record is a
/// word inside the record (a GC object), so it needs no allocation of its
/// own; Swift cannot make the system call (syscall(2) is variadic).
void cgc_futex_wait(uint32_t *word, uint32_t expected);

/// Wakes one thread waiting on `word` (futex FUTEX_WAKE, process-private).
void cgc_futex_wake_one(uint32_t *word);

/// Notes that the calling thread now holds the lock of the resource record
/// at `record` (a thread-local list of the few it holds at once), so that a
/// second lock by the same thread is told apart from a wait; Swift has no
/// cheap thread-local storage of its own.
void cgc_record_lock_held(const void *record);

/// Notes that the calling thread released the lock of `record`.
void cgc_record_lock_released(const void *record);

/// Whether the calling thread holds the lock of `record` (1) or not (0).
int cgc_record_lock_is_held(const void *record);

// MARK: Weak slots (weak hash tables)
//
// A weak table's storage is one scanned GC array of cgc_slot. A weak field
// holds its object hidden (bitwise complement, cgc_hide), so the marker never
// sees it; a strong field holds it plainly and is traced as usual. Nothing is
// registered with libgc per entry. Each collection sweeps every registered
// region (weak.c) and marks DEAD each entry whose weak target the marker did
// not reach (GC_is_marked): short-link semantics, as
// GC_general_register_disappearing_link. The sweep never drops the strong
// half of a dead entry; the owner's vacuum hands it on and then turns the
// slot into a tombstone.
//
// When the sweep runs. At GC_EVENT_MARK_END (world stopped) the sweep only
// lists its jobs and opens the *sweep window* (cgc_weak_sweep_seq turns odd);
// the slots are swept at GC_EVENT_POST_START_WORLD, with the world running
// again but the collector's allocation lock still held, and the window closes
// (the word turns even) before the callback returns. libgc then runs
// GC_finalize and its reclaim, so inside the window:
// - mark bits are exactly those of mark end (GC_finalize, which marks what
//   finalizable objects reach, has not run; no collection can start);
// - no unreachable object is freed or reused (that needs the lock), and an
//   object allocated in the window comes from a thread-local free list, which
//   libgc marked with the world stopped: every weak target a mutator can
//   write into a slot is marked;
// - after the window libgc frees blocks whose objects all died, and
//   GC_is_marked on such an object reads a removed header (it faults): so the
//   sweep must end inside the collection.
// Everyone who touches a slot in the window judges a weak target by its mark
// bit, so the sweep and the mutators agree on which entries died: readers
// through cgc_load_weak, which returns NULL for an unmarked target while the
// window is open; the owner's copies through cgc_weak_copy_slot. The sweep
// kills an entry with a compare-and-exchange of the field(s) it read (both
// words at once for keys-and-values), and reads again when an owner changed
// them meanwhile; owners detach an entry with a compare-and-exchange of the
// weak field the sweep would write, so neither overwrites the other.

/// Word values of a slot field that are not objects. A hidden address
/// (~p, p aligned and below 2^47) is never one of them.
enum {
    CGC_SLOT_EMPTY = 0,
    CGC_SLOT_TOMBSTONE = 1,
/// The weak target of the entry died at a collection; the entry waits for
/// its table's vacuum. Written by the sweep (or an owner's copy that met the
/// entry dead in the sweep window) only: into the key field for weak keys
/// (and keys-and-values, whose value is then zeroed), into the value field
/// for weak values (the strong key stays for the vacuum).
    CGC_SLOT_DEAD = 2,
};

/// One entry of a weak table's storage, in scanned GC memory (16-byte
/// aligned: the sweep exchanges both words of a keys-and-values slot at once).
typedef struct cgc_slot {
    uintptr_t key;
    uintptr_t value;
} cgc_slot;

_Static_assert(sizeof(cgc_slot) == 2 * sizeof(void *), "a slot is two words");

/// Which fields of a region's slots are weak.
enum {
    CGC_WEAK_KEYS = 1,
    CGC_WEAK_VALUES = 2,
};

/// What the sweep knows of one table: its storage (index 0) and, while the
/// owner moves the entries to a new storage, that one too (index 1); its
/// weakness; the counters the sweep updates. Lives in uncollectable
/// (scanned) memory, so the storages and hash arrays it names stay alive.
/// The owner changes the storage fields only through the functions below,
/// under the allocation lock, so the sweep never sees a storage with the
/// wrong capacity (and none changes during a sweep window, which holds that
/// lock). During a move every entry of storage 1 is a copy of one in storage
/// 0, so the sweep counts dead entries in storage 0 only.
typedef struct cgc_weak_region {
    struct cgc_weak_region *next;
    struct cgc_weak_region *prev;
    cgc_slot *storage[2];
    size_t capacity[2];
    /// The table's pointer-free arrays of hashes, or NULL; held here only
    /// so the collector keeps them alive.
    void *hashes[2];
    int flags;
    // The counters below are read and written only with __atomic builtins.
    /// Entries marked DEAD and not yet vacuumed by the owner. A sweep job
    /// adds its kills when it ends, so inside a sweep window the owner may
    /// vacuum an entry before it is counted: read it as signed, through
    /// cgc_weak_region_dead.
    size_t dead;
    /// Sum of all entries the sweep marked DEAD.
    uint64_t dead_total;
    /// Time the sweep spent on this region, in ns, in total.
    uint64_t sweep_ns;
    // The young log: slots the owner wrote since collection `young_window`
    // began (malloc'd, grown by the owner; written under the owner's lock,
    // read by the sweep of a partial collection, which need test nothing
    // else: a weak target older than the last collection stays marked
    // until a full one). `young_overflow` (log full, or the storage moved)
    // makes the next partial sweep test every slot. A sweep job keeps the
    // array it was given at mark end, so an array replaced during a sweep
    // window is freed only after it (`young_retired`, linked through its
    // first element, retired in window `young_retired_seq`).
    size_t *young;
    size_t young_capacity;
    size_t young_count;
    uint64_t young_window;
    int young_overflow;
    size_t *young_retired;
    unsigned young_retired_seq;
    // Set by the sweep at mark end (world stopped) for a region it sweeps in
    // a run of small ones: the young log to test and its length, or NULL to
    // test every slot.
    const size_t *sweep_log;
    size_t sweep_log_count;
} cgc_weak_region;

/// The sweep window's sequence word: odd from a collection's mark end (world
/// stopped) until its sweep has finished (world running, the collector's
/// lock still held), even otherwise. Read with __atomic builtins.
extern unsigned cgc_weak_sweep_seq;

/// Wall time of the last collection's sweep of all weak regions, in ns:
/// after the world restarted, inside the collection (read with __atomic
/// builtins).
extern uint64_t cgc_weak_sweep_last_ns;
/// Of the last collection's pause, the time the sweep took with the world
/// stopped (listing its jobs at mark end), in ns.
extern uint64_t cgc_weak_sweep_stopped_last_ns;

static inline uint64_t cgc_weak_sweep_last_duration_ns(void) {
    return __atomic_load_n(&cgc_weak_sweep_last_ns, __ATOMIC_RELAXED);
}

static inline uint64_t cgc_weak_sweep_stopped_last_duration_ns(void) {
    return __atomic_load_n(&cgc_weak_sweep_stopped_last_ns, __ATOMIC_RELAXED);
}

/// Sweep windows opened so far (each collection that had regions to sweep
/// opens one).
static inline unsigned cgc_weak_sweep_windows(void) {
    return __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE) / 2;
}

/// The sweep window's sequence word now (odd while a window is open).
static inline unsigned cgc_weak_sweep_sequence(void) {
    return __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE);
}

/// Waits until no sweep window is open (a futex wait; the sweep wakes the
/// waiters when it closes the window). For counts that must not see a
/// collection half recorded: inside a window, entries the marker found dead
/// are not all marked DEAD yet. Never call it from the collecting thread or
/// a sweep helper (neither runs code of the library's callers).
void cgc_weak_sweep_wait(void);

/// Whether the sweep runs at mark end, inside the stopped world, as it did
/// before the sweep window (nonzero), or after the world restarts (0, the
/// default). For the benchmark, which measures both in one run.
void cgc_weak_sweep_set_in_pause(int in_pause);
int cgc_weak_sweep_in_pause(void);

/// Starts the threads that share large sweeps (one fewer than the online
/// processors, at most 7), unless they run already in this process. Called
/// when a table's storage passes 32 Ki slots.
void cgc_weak_sweep_helpers_start(void);

/// The current collection epoch, for the owners' young logs (read with an
/// acquire load; cgc_collection_epoch() returns the same).
extern uint64_t cgc_epoch_word;

void cgc_weak_note_young_slow(cgc_weak_region *region, size_t slot, uint64_t window);

/// Records that the owner wrote slot `slot` (an insert, or a replaced key
/// or value): a partial collection must test it. Under the owner's lock.
static inline void cgc_weak_note_young(cgc_weak_region *region, size_t slot) {
    uint64_t window = __atomic_load_n(&cgc_epoch_word, __ATOMIC_ACQUIRE);
    if (__builtin_expect(region->young_window == window && region->young_count < region->young_capacity, 1)) {
        region->young[region->young_count] = slot;
        __atomic_store_n(&region->young_count, region->young_count + 1, __ATOMIC_RELEASE);
        return;
    }
    cgc_weak_note_young_slow(region, slot, window);
}

/// The owner moved its entries (slot numbers changed): the next partial
/// collection tests every slot.
static inline void cgc_weak_note_moved(cgc_weak_region *region) {
    __atomic_store_n(&region->young_overflow, 1, __ATOMIC_RELEASE);
}

/// Allocates a region (uncollectable) and adds it to the sweep list.
/// Returns NULL on allocation failure.
cgc_weak_region *cgc_weak_region_create(int flags);

/// Removes the region from the sweep list and frees it (the storage it held
/// becomes garbage unless referenced elsewhere).
void cgc_weak_region_destroy(cgc_weak_region *region);

/// Makes `storage` (with `capacity` slots) and `hashes` the region's only
/// storage (ending a move, if one was under way).
void cgc_weak_region_publish(cgc_weak_region *region, cgc_slot *storage, size_t capacity,
                             void *hashes);

/// Starts a move: `storage` is swept too (as storage 1) until the next
/// cgc_weak_region_publish.
void cgc_weak_region_begin_move(cgc_weak_region *region, cgc_slot *storage, size_t capacity,
                                void *hashes);

static inline uintptr_t cgc_hide(const void *p) { return ~(uintptr_t)p; }
static inline void *cgc_reveal(uintptr_t w) { return (void *)~w; }

/// Whether the marker reached `p` in the current collection: GC_is_marked,
/// for use inside a sweep window only (where it is safe without the
/// allocation lock: nothing is freed or marked meanwhile).
int cgc_weak_target_marked(const void *p);

/// Whether an entry whose fields read `key` and `value` has a weak target
/// the marker did not reach (sweep window only).
static inline int cgc_weak_entry_unmarked(int flags, uintptr_t key, uintptr_t value) {
    if (key <= CGC_SLOT_DEAD) return 0;
    if ((flags & CGC_WEAK_KEYS) && !cgc_weak_target_marked(cgc_reveal(key))) return 1;
    return (flags & CGC_WEAK_VALUES) && value > CGC_SLOT_DEAD && !cgc_weak_target_marked(cgc_reveal(value));
}

/// Marks dead the entry of `slot` if its fields still read `key` and
/// `value`, and counts it in the region. Returns 1 if this call marked it.
int cgc_weak_kill(cgc_weak_region *region, cgc_slot *slot, uintptr_t key, uintptr_t value);

/// In a sweep window, marks dead (and counts) the entry of `slot` if the
/// marker did not reach a weak target of it, ahead of the sweep; outside a
/// window, does nothing. For an owner that found the entry for its key dead
/// and inserts another: a lookup must not meet the dying entry first.
/// Returns 1 if this call marked it.
int cgc_weak_kill_if_unmarked(cgc_weak_region *region, cgc_slot *slot);

/// Copies live slot `from` to empty slot `to` of the storage being moved
/// to, unless its entry is dead: reads both words, reveals the objects into
/// registers, reads again and, if nothing changed (and, in a sweep window,
/// the marker reached the weak targets), writes the copy (value first) while
/// the objects are still held in registers, where a collection sees them.
/// Returns 1 if copied, 0 if the entry died (its words in `from` then show
/// DEAD: an entry met unmarked in a sweep window is killed here, and counted
/// in `region`).
static inline int cgc_weak_copy_slot(cgc_weak_region *region, cgc_slot *from, cgc_slot *to, int flags) {
    for (;;) {
        unsigned seq = __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE);
        uintptr_t k = __atomic_load_n(&from->key, __ATOMIC_ACQUIRE);
        uintptr_t v = __atomic_load_n(&from->value, __ATOMIC_ACQUIRE);
        void *kp = (flags & CGC_WEAK_KEYS) ? (void *)~k : (void *)k;
        void *vp = (flags & CGC_WEAK_VALUES) ? (void *)~v : (void *)v;
        __asm__ __volatile__("" : : "r"(kp), "r"(vp) : "memory");
        if (__atomic_load_n(&from->key, __ATOMIC_ACQUIRE) != k
            || __atomic_load_n(&from->value, __ATOMIC_ACQUIRE) != v)
            return 0;
        if (__builtin_expect(__atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE) != seq, 0)) continue;
        if (__builtin_expect(seq & 1, 0) && cgc_weak_entry_unmarked(flags, k, v)) {
            (void)cgc_weak_kill(region, from, k, v);
            return 0;
        }
        __atomic_store_n(&to->value, v, __ATOMIC_RELEASE);
        __atomic_store_n(&to->key, k, __ATOMIC_RELEASE);
        __asm__ __volatile__("" : : "r"(kp), "r"(vp) : "memory");
        return 1;
    }
}

/// Keeps `p` in a register up to this point, so a collection before it sees
/// the object (Swift's withExtendedLifetime does not do this for raw
/// pointers).
static inline void cgc_keep_alive(const void *p) { __asm__ __volatile__("" : : "r"(p) : "memory"); }

/// Asks the processor to bring the cache line at `p` in, for a read soon. A
/// hint: it never faults, whatever the address (NULL included). The
/// registry's vacuum reads the states of a collection's worth of dead
/// entries, long out of the cache; it prefetches a few entries ahead so the
/// misses overlap. Swift has no prefetch of its own.
static inline void cgc_prefetch(const void *p) { __builtin_prefetch(p); }

/// Dead entries not yet vacuumed (never negative: see cgc_weak_region.dead).
static inline size_t cgc_weak_region_dead(const cgc_weak_region *region) {
    intptr_t dead = (intptr_t)__atomic_load_n(&region->dead, __ATOMIC_ACQUIRE);
    return dead > 0 ? (size_t)dead : 0;
}

/// The owner vacuumed `count` dead entries.
static inline void cgc_weak_region_forget_dead(cgc_weak_region *region, size_t count) {
    __atomic_fetch_sub(&region->dead, count, __ATOMIC_ACQ_REL);
}

static inline uint64_t cgc_weak_region_dead_total(const cgc_weak_region *region) {
    return __atomic_load_n(&region->dead_total, __ATOMIC_RELAXED);
}

static inline uint64_t cgc_weak_region_sweep_ns(const cgc_weak_region *region) {
    return __atomic_load_n(&region->sweep_ns, __ATOMIC_RELAXED);
}

/// Reads a weak field and returns the object it holds, or NULL if the field
/// is empty, a tombstone, DEAD, was cleared by a collection while we read
/// it, or holds a target the current collection found unreachable (sweep
/// window). The field is read, the address revealed into a register, the
/// field read again, and the window's word read before and after: a
/// collection between the reads either saw the address in the register (and
/// kept the object) or changed the window's word (read again). Inside a
/// window the mark bit decides. The address is then safe while it stays on
/// the stack.
static inline void *cgc_load_weak(const uintptr_t *field) {
    for (;;) {
        unsigned seq = __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE);
        uintptr_t w = __atomic_load_n(field, __ATOMIC_ACQUIRE);
        if (w <= CGC_SLOT_DEAD) return NULL;
        void *p = cgc_reveal(w);
        __asm__ __volatile__("" : : "r"(p) : "memory");
        if (__atomic_load_n(field, __ATOMIC_ACQUIRE) != w) return NULL;
        if (__builtin_expect(__atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE) != seq, 0)) continue;
        if (__builtin_expect(seq & 1, 0) && !cgc_weak_target_marked(p)) return NULL;
        return p;
    }
}

/// Reads a strong field (the same contract for symmetry: NULL for a marker).
static inline void *cgc_load_strong(const uintptr_t *field) {
    uintptr_t w = __atomic_load_n(field, __ATOMIC_ACQUIRE);
    if (w <= CGC_SLOT_DEAD) return NULL;
    return (void *)w;
}

/// Reads a field's raw word (hidden, plain or a marker).
static inline uintptr_t cgc_load_field(const uintptr_t *field) {
    return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

static inline void cgc_store_field(uintptr_t *field, uintptr_t w) {
    __atomic_store_n(field, w, __ATOMIC_RELEASE);
}

/// Replaces a field's word only if it still holds `expected` (the sweep may
/// have marked it DEAD since it was read). Returns 1 if replaced.
static inline int cgc_exchange_field(uintptr_t *field, uintptr_t expected, uintptr_t desired) {
    return __atomic_compare_exchange_n(field, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

// MARK: Memory pressure (kernel notices)

/// A non-blocking, close-on-exec eventfd(2) counting from 0, or -1 with
/// errno set: the memory-pressure monitor's wakeup, and what cgroup v1's
/// cgroup.event_control signals memory.pressure_level notices through.
/// Swift's Glibc module does not export eventfd.
static inline int cgc_eventfd_nonblocking(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

/// The type of the file system holding an open file (statfs's f_type, for
/// example PROC_SUPER_MAGIC 0x9fa0), or 0 with errno set. The monitor
/// writes pressure triggers only into kernel files, never into a regular
/// file standing in for one. Swift's Glibc module does not export fstatfs.
static inline long cgc_file_system_type(int fd) {
    struct statfs info;
    return fstatfs(fd, &info) == 0 ? (long)info.f_type : 0;
}

#ifdef __cplusplus
}
#endif

#endif
