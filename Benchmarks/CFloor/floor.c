// Floor loops for core-bench and weak-table-bench. Facts used: libgc 8.2.2 finalize.c,
// GC_grow_table forces a full collection before the disappearing-link table
// grows past 2^GC_ON_GROW_LOG_SIZE_MIN (4,096) entries.
#include "../../Sources/CBoehmGC/shim.h"
#include "CFloor.h"

#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double cfloor_alloc_ns(size_t n, size_t size) {
    volatile void *sink = NULL;
    double start = now_ns();
    for (size_t i = 0; i < n; i++) {
        void *p = GC_MALLOC(size);
        if (p == NULL) return -1;
        sink = p;
    }
    double elapsed = now_ns() - start;
    sink = NULL;
    (void)sink;
    return elapsed / (double)n;
}

double cfloor_alloc_link_ns(size_t n, size_t size, int keep) {
    // Link cells in malloc memory: never scanned, so they keep nothing alive.
    void **links = calloc(n, sizeof(void *));
    void **kept = keep ? GC_MALLOC_UNCOLLECTABLE(n * sizeof(void *)) : NULL;
    if (links == NULL || (keep && kept == NULL)) {
        free(links);
        return -1;
    }
    double start = now_ns();
    for (size_t i = 0; i < n; i++) {
        void *p = GC_MALLOC(size);
        if (p == NULL) return -1;
        links[i] = p;
        if (kept) kept[i] = p;
        if (GC_general_register_disappearing_link(&links[i], p) == GC_NO_MEMORY) return -1;
    }
    double elapsed = now_ns() - start;
    for (size_t i = 0; i < n; i++) GC_unregister_disappearing_link(&links[i]);
    free(links);
    if (kept) GC_FREE(kept);
    return elapsed / (double)n;
}

unsigned long cfloor_gc_count(void) { return (unsigned long)GC_get_gc_no(); }
