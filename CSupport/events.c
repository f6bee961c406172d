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
static uint64_t collection_start_ns; // written and read under the GC lock

// Regions of all live weak tables. Changed only under the allocation lock,
// walked by the sweep, which holds it.
static cgc_weak_region *regions;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Marks DEAD each entry of `storage` whose weak side the marker did not
// reach (runs at mark end: world stopped, allocation lock held, so no owner
// is between two of its instructions in a way that matters: owners change
// weak fields with compare-and-exchange and treat DEAD as final). The strong
// half of a dead entry stays in place, still traced, for the owner's vacuum.
// A field that is 0 while the key is set is an entry being written (weak
// values, whose target the writer holds): nothing to test yet.
static size_t sweep_storage(cgc_slot *storage, size_t capacity, int flags) {
    size_t dead = 0;
    switch (flags) {
    case CGC_WEAK_KEYS:
        for (size_t i = 0; i < capacity; i++) {
            uintptr_t key = storage[i].key;
            if (key <= CGC_SLOT_DEAD || GC_is_marked(cgc_reveal(key))) continue;
            storage[i].key = CGC_SLOT_DEAD;
            dead++;
        }
        break;
    case CGC_WEAK_VALUES:
        for (size_t i = 0; i < capacity; i++) {
            uintptr_t value = storage[i].value;
            if (storage[i].key <= CGC_SLOT_DEAD || value <= CGC_SLOT_DEAD
                || GC_is_marked(cgc_reveal(value)))
                continue;
            storage[i].value = CGC_SLOT_DEAD;
            dead++;
        }
        break;
    default: // keys and values: nothing strong to keep
        for (size_t i = 0; i < capacity; i++) {
            uintptr_t key = storage[i].key;
            if (key <= CGC_SLOT_DEAD) continue;
            uintptr_t value = storage[i].value;
            if (GC_is_marked(cgc_reveal(key))
                && (value <= CGC_SLOT_DEAD || GC_is_marked(cgc_reveal(value))))
                continue;
            storage[i].key = CGC_SLOT_DEAD;
            storage[i].value = 0;
            dead++;
        }
        break;
    }
    return dead;
}

static void sweep_weak_regions(void) {
    for (cgc_weak_region *r = regions; r != NULL; r = r->next) {
        uint64_t region_start = now_ns();
        // Storage 1, during a move, holds copies of entries of storage 0:
        // mark both, count storage 0 only.
        if (r->storage[1] != NULL) (void)sweep_storage(r->storage[1], r->capacity[1], r->flags);
        if (r->storage[0] != NULL) {
            size_t dead = sweep_storage(r->storage[0], r->capacity[0], r->flags);
            if (dead) {
                __atomic_fetch_add(&r->dead, dead, __ATOMIC_RELEASE);
                __atomic_fetch_add(&r->dead_total, dead, __ATOMIC_RELAXED);
            }
        }
        __atomic_fetch_add(&r->sweep_ns, now_ns() - region_start, __ATOMIC_RELAXED);
    }
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

struct publish_args {
    cgc_weak_region *region;
    cgc_slot *storage;
    size_t capacity;
    void *hashes;
};

static void *publish_locked(void *arg) {
    struct publish_args *a = arg;
    a->region->storage[0] = a->storage;
    a->region->capacity[0] = a->capacity;
    a->region->hashes[0] = a->hashes;
    a->region->storage[1] = NULL;
    a->region->capacity[1] = 0;
    a->region->hashes[1] = NULL;
    return NULL;
}

static void *begin_move_locked(void *arg) {
    struct publish_args *a = arg;
    a->region->storage[1] = a->storage;
    a->region->capacity[1] = a->capacity;
    a->region->hashes[1] = a->hashes;
    return NULL;
}

void cgc_weak_region_publish(cgc_weak_region *region, cgc_slot *storage, size_t capacity,
                             void *hashes) {
    struct publish_args args = {region, storage, capacity, hashes};
    GC_call_with_alloc_lock(publish_locked, &args);
}

void cgc_weak_region_begin_move(cgc_weak_region *region, cgc_slot *storage, size_t capacity,
                                void *hashes) {
    struct publish_args args = {region, storage, capacity, hashes};
    GC_call_with_alloc_lock(begin_move_locked, &args);
}
