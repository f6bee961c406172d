// Collection events and statistics (events.c).
//
// The shim installs libgc's collection-event callback at cgc_init. It runs
// with the collector's lock held (and, at mark end, with the world stopped),
// so it only reads clocks, bumps counters, runs the weak sweep (cgc_weak.h)
// and wakes the post-GC hook and finalizer threads (cgc_finalizers.h); it
// never allocates.
// What it records is read here, from any thread, without a lock: each
// counter on its own (relaxed loads, except the epoch, an acquire load), so
// two of them read one after the other may straddle a collection. The
// counters are the shim's own: no global is declared here.
#ifndef CGC_EVENTS_H
#define CGC_EVENTS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Completed collections, full and partial (GC_EVENT_RECLAIM_END): the
/// collection epoch, which the weak tables' young logs are stamped with.
/// One acquire load.
static inline uint64_t cgc_collection_epoch(void) {
    extern uint64_t cgc_epoch_word; // events.c; __atomic builtins only
    return __atomic_load_n(&cgc_epoch_word, __ATOMIC_ACQUIRE);
}

/// Collections completed, for a reader that must not start the library:
/// the epoch once the runtime is published (cgc_runtime), before that
/// libgc's own count (`GC_get_gc_no`: 0 unless C code started libgc
/// itself). Any thread, registered or not.
uint64_t cgc_collections_completed(void);

/// Of those, full collections (every one outside generational mode).
uint64_t cgc_full_collections(void);
/// The time the world stood still in the last collection, in ns.
uint64_t cgc_last_pause_ns(void);
/// Sum of all such pauses, in ns.
uint64_t cgc_total_pause_ns(void);
/// Longest pause seen, in ns.
uint64_t cgc_max_pause_ns(void);

#ifdef __cplusplus
}
#endif

#endif
