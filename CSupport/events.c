// The collection-event callback: collection epoch, pause times, and the
// mark-end sweep of weak-table slots.
//
// Why C: libgc calls it with its allocation lock held (and, at mark end,
// with the world stopped). It must not allocate, take locks a stopped thread
// may hold, or run Swift code that might. It only reads clocks, bumps
// atomics and walks the weak-region list.
#include "internal.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic uint64_t epoch;
static _Atomic uint64_t last_pause_ns;
static _Atomic uint64_t total_pause_ns;
static _Atomic uint64_t max_pause_ns;
static _Atomic uint64_t weak_sweep_ns;
static _Atomic uint64_t warnings;
static uint64_t collection_start_ns; // written and read under the GC lock

// Regions of all live weak tables. Changed only under the allocation lock,
// walked by the sweep, which holds it.
static cgc_weak_region *regions;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Clears each entry of `storage` whose weak side the marker did not reach.
// A cleared entry becomes a tombstone; its strong side is dropped too, so
// whatever it held can go at the next collection.
static size_t sweep_storage(cgc_slot *storage, size_t capacity, int flags) {
    size_t cleared = 0;
    for (size_t i = 0; i < capacity; i++) {
        cgc_slot *slot = &storage[i];
        uintptr_t key = slot->key;
        if (key <= CGC_SLOT_TOMBSTONE) continue;
        int dead = 0;
        if ((flags & CGC_WEAK_KEYS) && !GC_is_marked(cgc_reveal(key))) dead = 1;
        if (!dead && (flags & CGC_WEAK_VALUES) && slot->value != 0
            && !GC_is_marked(cgc_reveal(slot->value))) dead = 1;
        if (dead) {
            slot->key = CGC_SLOT_TOMBSTONE;
            slot->value = 0;
            cleared++;
        }
    }
    return cleared;
}

static void sweep_weak_regions(void) {
    if (regions == NULL) return;
    uint64_t start = now_ns();
    for (cgc_weak_region *r = regions; r != NULL; r = r->next) {
        size_t cleared = 0;
        for (int i = 0; i < 2; i++) {
            cgc_slot *storage = atomic_load_explicit(&r->storage[i], memory_order_relaxed);
            size_t capacity = atomic_load_explicit(&r->capacity[i], memory_order_relaxed);
            if (storage != NULL) cleared += sweep_storage(storage, capacity, r->flags);
        }
        if (cleared) {
            atomic_fetch_add_explicit(&r->cleared, cleared, memory_order_relaxed);
            atomic_fetch_add_explicit(&r->cleared_total, cleared, memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&weak_sweep_ns, now_ns() - start, memory_order_relaxed);
}

static void on_collection_event(GC_EventType event) {
    switch (event) {
    case GC_EVENT_START:
        collection_start_ns = now_ns();
        break;
    case GC_EVENT_MARK_END:
        // The world is still stopped and marking is complete: an unmarked
        // weak target is garbage, and no mutator can be reading its slot.
        sweep_weak_regions();
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

static void count_warning(char *message, GC_word arg) {
    (void)message;
    (void)arg;
    atomic_fetch_add_explicit(&warnings, 1, memory_order_relaxed);
}

void cgc_install_event_callback(void) {
    GC_set_on_collection_event(on_collection_event);
    GC_set_warn_proc(count_warning);
}

uint64_t cgc_collection_epoch(void) { return atomic_load_explicit(&epoch, memory_order_acquire); }
uint64_t cgc_last_pause_ns(void) { return atomic_load(&last_pause_ns); }
uint64_t cgc_total_pause_ns(void) { return atomic_load(&total_pause_ns); }
uint64_t cgc_max_pause_ns(void) { return atomic_load(&max_pause_ns); }
uint64_t cgc_weak_sweep_total_ns(void) { return atomic_load(&weak_sweep_ns); }
uint64_t cgc_warning_count(void) { return atomic_load(&warnings); }

// MARK: Weak regions

static void *link_region(void *arg) {
    cgc_weak_region *r = arg;
    r->prev = NULL;
    r->next = regions;
    if (regions) regions->prev = r;
    regions = r;
    return NULL;
}

static void *unlink_region(void *arg) {
    cgc_weak_region *r = arg;
    if (r->prev) r->prev->next = r->next; else regions = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
    return NULL;
}

cgc_weak_region *cgc_weak_region_create(int flags) {
    cgc_weak_region *r = GC_MALLOC_UNCOLLECTABLE(sizeof(cgc_weak_region));
    if (r == NULL) return NULL;
    r->flags = flags;
    GC_call_with_alloc_lock(link_region, r);
    return r;
}

void cgc_weak_region_destroy(cgc_weak_region *region) {
    GC_call_with_alloc_lock(unlink_region, region);
    GC_FREE(region);
}
