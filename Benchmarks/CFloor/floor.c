// Floor loops for core-bench and weak-table-bench. Facts used: libgc 8.2.2 finalize.c,
// GC_grow_table forces a full collection before the disappearing-link table
// grows past 2^GC_ON_GROW_LOG_SIZE_MIN (4,096) entries.
#include "../../Sources/CBoehmGC/shim.h"
#include "CFloor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

// The names' hash of weak-table-bench (Interning.swift, nameHash), with the
// top bit set as GCWeakTable stores content hashes.
static uint64_t name_hash(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    if (i < n) {
        uint64_t tail = 0;
        memcpy(&tail, p + i, n - i);
        h = (h ^ tail) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
    }
    return h | (1ull << 63);
}

struct floor_slot {
    uintptr_t key;
    uint64_t hash;
};

double cfloor_intern_hit_ns(const unsigned char *bytes, const long *starts, size_t n, const long *order) {
    size_t capacity = 8;
    while (capacity < 2 * n) capacity *= 2;
    int shift = 64 - __builtin_ctzl(capacity);
    struct floor_slot *table = calloc(capacity, sizeof(struct floor_slot));
    void **symbols = GC_MALLOC_UNCOLLECTABLE(n * sizeof(void *));
    if (table == NULL || symbols == NULL) {
        free(table);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t length = (size_t)(starts[i + 1] - starts[i]);
        unsigned char *symbol = GC_MALLOC_ATOMIC(8 + length);
        if (symbol == NULL) return -1;
        memcpy(symbol, &length, 8);
        memcpy(symbol + 8, bytes + starts[i], length);
        symbols[i] = symbol;
        uint64_t h = name_hash(bytes + starts[i], length);
        size_t b = (size_t)((h * 0x9E3779B97F4A7C15ull) >> shift);
        while (table[b].key) b = (b + 1) & (capacity - 1);
        table[b].hash = h;
        table[b].key = ~(uintptr_t)symbol;
    }
    double best = -1;
    for (int round = 0; round < 3; round++) {
        size_t hits = 0;
        double start = now_ns();
        for (size_t k = 0; k < n; k++) {
            size_t i = order ? (size_t)order[k] : k;
            const unsigned char *name = bytes + starts[i];
            size_t length = (size_t)(starts[i + 1] - starts[i]);
            uint64_t h = name_hash(name, length);
            size_t b = (size_t)((h * 0x9E3779B97F4A7C15ull) >> shift);
            for (uintptr_t key; (key = table[b].key) != 0; b = (b + 1) & (capacity - 1)) {
                if (table[b].hash != h) continue;
                const unsigned char *symbol = (const unsigned char *)~key;
                size_t stored;
                memcpy(&stored, symbol, 8);
                if (stored == length && memcmp(symbol + 8, name, length) == 0) {
                    hits++;
                    break;
                }
            }
        }
        double ns = (now_ns() - start) / (double)n;
        if (hits != n) ns = -1;
        if (best < 0 || (ns >= 0 && ns < best)) best = ns;
    }
    free(table);
    GC_FREE(symbols);
    return best;
}
