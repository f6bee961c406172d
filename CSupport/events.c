// The collection-event callback: the collection epoch, pause times, and the
// sweep of weak-table slots (weak.c): listed at mark end, with the world
// stopped, and run as soon as the world has restarted, still inside the
// collection.
//
// Why C: libgc calls it with its allocation lock held (and, at mark end,
// with the world stopped). It must not allocate, take locks a stopped thread
// may hold, or run Swift code that might. It only reads clocks, bumps
// atomics, sweeps, and posts the semaphores of the hook and finalizer threads.
//
// Every collection, full or partial (generational mode), ends with
// GC_EVENT_RECLAIM_END; libgc 8.2.2 reports GC_EVENT_START and GC_EVENT_END
// only around full collections that GC_gcollect and its kin run, so the
// epoch counts at reclaim end, and a pause is the time the world stood
// still (PRE_STOP_WORLD to POST_START_WORLD). libgc calls the start callback
// at the start of every full collection, whoever runs it: that is how the
// sweep knows a partial collection.
#include "internal.h"

#include <stdatomic.h>
#include <time.h>

uint64_t cgc_epoch_word; // the epoch; __atomic builtins only
static _Atomic uint64_t full_collections;
static _Atomic uint64_t last_pause_ns;
static _Atomic uint64_t total_pause_ns;
static _Atomic uint64_t max_pause_ns;
// Written and read under the GC lock.
static uint64_t stop_ns;
static uint64_t pause_ns;
static int full_collection;

static void on_full_collection_start(void) { full_collection = 1; }

static void on_collection_event(GC_EventType event) {
    switch (event) {
    case GC_EVENT_PRE_STOP_WORLD:
        stop_ns = now_ns();
        break;
    case GC_EVENT_POST_START_WORLD:
        pause_ns += now_ns() - stop_ns;
        // The world runs again, the lock is still held, and libgc has not yet
        // finalized or reclaimed: the mark bits are those of mark end (the
        // sweep window, cgc_weak.h). Nothing to do after marking was
        // abandoned (no mark end).
        cgc_weak_sweep_run();
        break;
    case GC_EVENT_MARK_END:
        // The world is still stopped and marking is complete: an unmarked
        // weak target is garbage. List the sweep's jobs and open the window.
        cgc_weak_sweep_prepare(full_collection || !GC_is_incremental_mode());
        break;
    case GC_EVENT_RECLAIM_START:
        // Still before GC_finalize and the reclaim: a sweep the restart did
        // not run (libgc reports the restart only in threaded builds, which
        // this package requires) runs here at the latest. Nothing otherwise.
        cgc_weak_sweep_run();
        break;
    case GC_EVENT_RECLAIM_END: {
        uint64_t pause = pause_ns;
        pause_ns = 0;
        if (full_collection || !GC_is_incremental_mode())
            atomic_fetch_add_explicit(&full_collections, 1, memory_order_relaxed);
        full_collection = 0;
        atomic_store_explicit(&last_pause_ns, pause, memory_order_relaxed);
        atomic_fetch_add_explicit(&total_pause_ns, pause, memory_order_relaxed);
        if (pause > atomic_load_explicit(&max_pause_ns, memory_order_relaxed))
            atomic_store_explicit(&max_pause_ns, pause, memory_order_relaxed);
        __atomic_fetch_add(&cgc_epoch_word, 1, __ATOMIC_RELEASE);
        // Post-GC hooks run on their thread after every collection; the
        // finalizer thread looks for finalizers the collection queued.
        cgc_wake_hook_thread();
        cgc_wake_finalizer_thread();
        break;
    }
    default:
        break;
    }
}

// Under the allocation lock: the collections libgc ran before the library
// adopted it count as full ones, and the epoch goes on from GC_get_gc_no().
static void *adopt_collection_count(void *unused) {
    (void)unused;
    uint64_t done = (uint64_t)GC_get_gc_no();
    atomic_store_explicit(&full_collections, done, memory_order_relaxed);
    __atomic_store_n(&cgc_epoch_word, done, __ATOMIC_RELEASE);
    return NULL;
}

void cgc_install_event_callback(int adopting) {
    GC_set_on_collection_event(on_collection_event);
    GC_set_start_callback(on_full_collection_start);
    // libgc's warnings ("Repeated allocation of very large block"...) go to
    // stderr by default; the heap-limit tests provoke them on purpose.
    GC_set_warn_proc(GC_ignore_warn_proc);
    // Before GC_INIT (the usual start) the callback sees every collection,
    // and the epoch equals GC_get_gc_no() from the first; C code that
    // started libgc itself may have run collections already.
    if (adopting) GC_call_with_alloc_lock(adopt_collection_count, NULL);
}

uint64_t cgc_collections_completed(void) {
    // The runtime is published once its start (cgc_init, which installs
    // the callback above) returned: from then on the epoch counts.
    if (cgc_runtime() != NULL) return cgc_collection_epoch();
    return (uint64_t)GC_get_gc_no();  // libgc's own count: 0 unless C code started it
}

uint64_t cgc_full_collections(void) { return atomic_load_explicit(&full_collections, memory_order_relaxed); }
uint64_t cgc_last_pause_ns(void) { return atomic_load(&last_pause_ns); }
uint64_t cgc_total_pause_ns(void) { return atomic_load(&total_pause_ns); }
uint64_t cgc_max_pause_ns(void) { return atomic_load(&max_pause_ns); }
