// The collection-event callback: collection epoch, pause times, and, at
// mark end, the sweep of weak-table slots (weak.c).
//
// Why C: libgc calls it with its allocation lock held (and, at mark end,
// with the world stopped). It must not allocate, take locks a stopped thread
// may hold, or run Swift code that might. It only reads clocks and bumps
// atomics.
#include "internal.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic uint64_t epoch;
static _Atomic uint64_t last_pause_ns;
static _Atomic uint64_t total_pause_ns;
static _Atomic uint64_t max_pause_ns;
static uint64_t collection_start_ns; // written and read under the GC lock

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_collection_event(GC_EventType event) {
    switch (event) {
    case GC_EVENT_START:
        collection_start_ns = now_ns();
        break;
    case GC_EVENT_MARK_END:
        // The world is still stopped and marking is complete: an unmarked
        // weak target is garbage, and no mutator can be reading its slot.
        cgc_weak_sweep();
        break;
    case GC_EVENT_END: {
        uint64_t pause = now_ns() - collection_start_ns;
        atomic_store_explicit(&last_pause_ns, pause, memory_order_relaxed);
        atomic_fetch_add_explicit(&total_pause_ns, pause, memory_order_relaxed);
        if (pause > atomic_load_explicit(&max_pause_ns, memory_order_relaxed))
            atomic_store_explicit(&max_pause_ns, pause, memory_order_relaxed);
        atomic_fetch_add_explicit(&epoch, 1, memory_order_release);
        break;
    }
    default:
        break;
    }
}

void cgc_install_event_callback(void) {
    GC_set_on_collection_event(on_collection_event);
    // libgc's warnings ("Repeated allocation of very large block"...) go to
    // stderr by default; the heap-limit tests provoke them on purpose.
    GC_set_warn_proc(GC_ignore_warn_proc);
}

uint64_t cgc_collection_epoch(void) { return atomic_load_explicit(&epoch, memory_order_acquire); }
uint64_t cgc_last_pause_ns(void) { return atomic_load(&last_pause_ns); }
uint64_t cgc_total_pause_ns(void) { return atomic_load(&total_pause_ns); }
uint64_t cgc_max_pause_ns(void) { return atomic_load(&max_pause_ns); }

