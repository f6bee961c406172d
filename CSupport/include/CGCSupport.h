// The C shim of BoehmGC: only what Swift cannot do.
//
// - GC_INIT is a macro.
// - Thread registration must be fast (a thread-local flag) and must unblock
//   the signals libgc stops the world with; Dispatch blocks them.
// - The collection-event callback runs with the collector's lock held and the
//   world stopped (at mark end): it counts collections, times pauses and
//   clears the hidden weak slots of weak tables. No allocation happens there.
// - The finalizer trampoline and the post-GC sentinel must not leave object
//   addresses on a stack the collector scans, so they clear the dead stack
//   below them before returning.
// Policy, naming, errors and ownership live in Swift.
#ifndef CGCSUPPORT_H
#define CGCSUPPORT_H

// shim.h (GC_THREADS, then gc.h) lives with the system library target.
#include "../../Sources/CBoehmGC/shim.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: Lifecycle

/// Initialises the collector on the calling thread, any thread (GC_INIT),
/// allows other threads to register, and installs the collection-event
/// callback. Call once, after the GC_set_* settings.
/// Returns 0.
int cgc_init(void);

// MARK: Threads

/// 1 once the current thread is registered by cgc_register_current_thread.
extern _Thread_local int cgc_thread_registered;

/// Registers the calling thread with the collector if it is not yet known,
/// unblocks libgc's suspend and restart signals, and arranges for the thread
/// to be unregistered when it exits. Returns 0, or -1 if libgc refused.
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

// MARK: Collection events and statistics

/// Completed collections seen by the event callback (GC_EVENT_END).
uint64_t cgc_collection_epoch(void);
/// Duration of the last collection, GC_EVENT_START to GC_EVENT_END, in ns.
uint64_t cgc_last_pause_ns(void);
/// Sum of all collection durations, in ns.
uint64_t cgc_total_pause_ns(void);
/// Longest collection seen, in ns.
uint64_t cgc_max_pause_ns(void);
/// Time spent clearing weak-table slots at mark end, in ns, in total.
uint64_t cgc_weak_sweep_total_ns(void);
/// Warnings libgc printed through its warn proc (they are counted, not shown).
uint64_t cgc_warning_count(void);

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

/// Runs the finalizers that are ready (GC_invoke_finalizers), then clears
/// the dead stack below. Returns how many ran.
size_t cgc_invoke_finalizers(void);

/// Zeroes a few pages of dead stack below the caller, so stale copies of
/// object addresses left by returned frames cannot keep objects alive.
void cgc_clear_dead_stack(void);

// MARK: Post-GC sentinel

/// Allocates a one-word pointer-free sentinel, points it at `owner` through a
/// short disappearing link (no link when `owner` is NULL: the hook then lives
/// until it is cancelled), and registers the trampoline finalizer with `data`.
/// The sentinel's address is stored hidden (complemented) in *hidden_out,
/// which must be memory the collector does not scan; it is never left in a
/// scanned place, so the sentinel is unreachable after every collection.
/// Returns 0, or -1 if allocation failed.
int cgc_sentinel_create(void *owner, void *data, uintptr_t *hidden_out);

/// 1 if the owner of the sentinel (given hidden) is still alive, read under
/// the allocation lock; 0 if the owner was collected.
int cgc_sentinel_owner_alive(uintptr_t hidden_sentinel);

/// Depth of finalizer calls on this thread (0 outside finalizers).
extern _Thread_local int cgc_finalizer_depth;

/// Whether the calling thread is running a finalizer.
static inline int cgc_in_finalizer(void) { return cgc_finalizer_depth > 0; }

/// Re-registers the trampoline finalizer on the sentinel being finalized.
void cgc_sentinel_rearm(void *sentinel, void *data);

// MARK: Foreign memory (ExternalMemory, ForeignResource)

/// Bytes of malloc memory in use by the whole process (glibc mallinfo2:
/// arena bytes in use plus mmapped chunks). Swift cannot call it: <malloc.h>
/// is not in the Glibc module. Process-wide, so other threads' allocations
/// show up in a difference taken around a call.
size_t cgc_malloc_in_use_bytes(void);

// MARK: Weak slots (weak hash tables)

/// Word values of a slot's key field that are not objects.
#define CGC_SLOT_EMPTY ((uintptr_t)0)
#define CGC_SLOT_TOMBSTONE ((uintptr_t)1)

/// One entry of a weak table's storage, in scanned GC memory. A weak field
/// holds its object hidden (bitwise complement), so the marker does not see
/// it; a strong field holds it plainly and is traced as usual.
typedef struct cgc_slot {
    uintptr_t key;
    uintptr_t value;
} cgc_slot;

enum {
    CGC_WEAK_KEYS = 1,
    CGC_WEAK_VALUES = 2,
};

/// What the mark-end sweep knows of one table: up to two storages (the
/// current one and, during a resize, the next one), its weakness, and the
/// counters the sweep updates. Lives in uncollectable memory, so the
/// storages it points to stay alive. Fields are written by the table's owner
/// under its own lock; the sweep reads them with the world stopped.
typedef struct cgc_weak_region {
    struct cgc_weak_region *next;
    struct cgc_weak_region *prev;
    cgc_slot *_Atomic storage[2];
    _Atomic size_t capacity[2];
    int flags;
    /// Entries cleared by the sweep since the owner last reset it.
    _Atomic size_t cleared;
    /// Sum of all entries cleared by the sweep.
    _Atomic uint64_t cleared_total;
} cgc_weak_region;

/// Allocates a region (uncollectable) and adds it to the sweep list.
/// Returns NULL on allocation failure.
cgc_weak_region *cgc_weak_region_create(int flags);

/// Removes the region from the sweep list and frees it.
void cgc_weak_region_destroy(cgc_weak_region *region);

static inline uintptr_t cgc_hide(const void *p) { return ~(uintptr_t)p; }
static inline void *cgc_reveal(uintptr_t w) { return (void *)~w; }

/// Reads a weak field and returns the object it holds, or NULL if the field
/// is empty, a tombstone, or was cleared by a collection while we read it.
/// The object is returned only after the field was read again with the
/// revealed address live in a register, so a collection in between either
/// saw the address (and kept the object) or cleared the field (and we
/// return NULL). The address is then safe while it stays on the stack.
static inline void *cgc_load_weak(const uintptr_t *field) {
    uintptr_t w = __atomic_load_n(field, __ATOMIC_ACQUIRE);
    if (w <= CGC_SLOT_TOMBSTONE) return NULL;
    void *p = cgc_reveal(w);
    __asm__ __volatile__("" : : "r"(p) : "memory");
    if (__atomic_load_n(field, __ATOMIC_ACQUIRE) != w) return NULL;
    return p;
}

/// Reads a strong field (the same contract for symmetry: NULL for empty).
static inline void *cgc_load_strong(const uintptr_t *field) {
    uintptr_t w = __atomic_load_n(field, __ATOMIC_ACQUIRE);
    if (w <= CGC_SLOT_TOMBSTONE) return NULL;
    return (void *)w;
}

static inline void cgc_store_field(uintptr_t *field, uintptr_t w) {
    __atomic_store_n(field, w, __ATOMIC_RELEASE);
}

#ifdef __cplusplus
}
#endif

#endif
