// Weak regions and slots: the weak tables' storage and its sweep (weak.c).
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
// lists its jobs and opens the *sweep window* (cgc_weak_sweep_sequence() turns odd);
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
//
// The window's word and the epoch behind the inline functions are the shim's
// own: no global is declared here.
#ifndef CGC_WEAK_H
#define CGC_WEAK_H

#include "cgc_events.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/// The sweep window's sequence word now: odd from a collection's mark end
/// (world stopped) until its sweep has finished (world running, the
/// collector's lock still held), even otherwise. One acquire load: every
/// weak read and copy below takes it twice.
static inline unsigned cgc_weak_sweep_sequence(void) {
    extern unsigned cgc_weak_sweep_seq; // weak.c; __atomic builtins only
    return __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE);
}

/// Sweep windows opened so far (each collection that had regions to sweep
/// opens one).
static inline unsigned cgc_weak_sweep_windows(void) { return cgc_weak_sweep_sequence() / 2; }

/// Wall time of the last collection's sweep of all weak regions, in ns:
/// after the world restarted, inside the collection (0 when it had no
/// regions to sweep).
uint64_t cgc_weak_sweep_last_duration_ns(void);

/// Of the last collection's pause, the time the sweep took with the world
/// stopped (listing its jobs at mark end), in ns.
uint64_t cgc_weak_sweep_stopped_last_duration_ns(void);

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
/// The setting cgc_weak_sweep_set_in_pause made (nonzero: in the pause).
int cgc_weak_sweep_in_pause(void);

/// Starts the threads that share large sweeps (one fewer than the online
/// processors, at most 7), unless they run already in this process. Called
/// when a table's storage passes 32 Ki slots.
void cgc_weak_sweep_helpers_start(void);

/// The slow path of cgc_weak_note_young: the region's young log belongs to
/// an earlier collection (`window` is the current epoch), or is full; starts
/// a new log, grows it, or marks the log overflowed. Under the owner's lock.
void cgc_weak_note_young_slow(cgc_weak_region *region, size_t slot, uint64_t window);

/// Records that the owner wrote slot `slot` (an insert, or a replaced key
/// or value): a partial collection must test it. Under the owner's lock.
static inline void cgc_weak_note_young(cgc_weak_region *region, size_t slot) {
    uint64_t window = cgc_collection_epoch(); // the owners' young logs are stamped with it
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

/// A weak field's word for `p`: its address hidden from the marker.
static inline uintptr_t cgc_hide(const void *p) { return ~(uintptr_t)p; }
/// The address a weak field's word `w` hides (the inverse of cgc_hide).
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
        unsigned seq = cgc_weak_sweep_sequence();
        uintptr_t k = __atomic_load_n(&from->key, __ATOMIC_ACQUIRE);
        uintptr_t v = __atomic_load_n(&from->value, __ATOMIC_ACQUIRE);
        void *kp = (flags & CGC_WEAK_KEYS) ? (void *)~k : (void *)k;
        void *vp = (flags & CGC_WEAK_VALUES) ? (void *)~v : (void *)v;
        __asm__ __volatile__("" : : "r"(kp), "r"(vp) : "memory");
        if (__atomic_load_n(&from->key, __ATOMIC_ACQUIRE) != k
            || __atomic_load_n(&from->value, __ATOMIC_ACQUIRE) != v)
            return 0;
        if (__builtin_expect(cgc_weak_sweep_sequence() != seq, 0)) continue;
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

/// Entries of the region the sweep has marked DEAD, in total.
static inline uint64_t cgc_weak_region_dead_total(const cgc_weak_region *region) {
    return __atomic_load_n(&region->dead_total, __ATOMIC_RELAXED);
}

/// Time the sweep has spent on the region, in ns, in total.
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
        unsigned seq = cgc_weak_sweep_sequence();
        uintptr_t w = __atomic_load_n(field, __ATOMIC_ACQUIRE);
        if (w <= CGC_SLOT_DEAD) return NULL;
        void *p = cgc_reveal(w);
        __asm__ __volatile__("" : : "r"(p) : "memory");
        if (__atomic_load_n(field, __ATOMIC_ACQUIRE) != w) return NULL;
        if (__builtin_expect(cgc_weak_sweep_sequence() != seq, 0)) continue;
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

/// Writes a field's word (a release store).
static inline void cgc_store_field(uintptr_t *field, uintptr_t w) {
    __atomic_store_n(field, w, __ATOMIC_RELEASE);
}

/// Replaces a field's word only if it still holds `expected` (the sweep may
/// have marked it DEAD since it was read). Returns 1 if replaced.
static inline int cgc_exchange_field(uintptr_t *field, uintptr_t expected, uintptr_t desired) {
    return __atomic_compare_exchange_n(field, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

#ifdef __cplusplus
}
#endif

#endif
