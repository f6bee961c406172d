// Root cells (roots.c).
//
// GCRoot and GCHandle keep their objects in one-word cells of malloc'd
// memory registered with libgc as roots: a live cell keeps its object
// alive; a free one holds the next free cell's address. Each thread keeps a
// free list of its own (no lock and no atomic operation on the fast path),
// refilled from and trimmed to a shared pool in batches, so a cell may be
// taken on one thread and given back on another. Cells are never GC heap
// memory: taking one never counts against the heap limit. The thread-locals
// behind the inline functions are the shim's own: no global is declared
// here.
#ifndef CGC_ROOTS_H
#define CGC_ROOTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Cells a thread keeps free before it gives some back to the shared pool.
#define CGC_ROOT_LOCAL_MAX 256

/// The slow path of cgc_root_take: refills this thread's list from the
/// shared pool (or a new slab), then takes a cell. NULL if malloc refused a
/// new slab.
void **cgc_root_take_slow(void *object);

/// The slow path of cgc_root_give: gives this thread's free cells back to
/// the shared pool until CGC_ROOT_LOCAL_MAX / 2 are left.
void cgc_root_trim(void);

/// A root cell holding `object`, from this thread's free list (refilled from
/// the shared pool in batches): a live cell keeps its object alive. NULL if
/// malloc refused a new slab. No lock and no atomic operation on the fast
/// path.
static inline void **cgc_root_take(void *object) {
    // This thread's free cells (each holds the next one's address) and how
    // many (roots.c).
    extern _Thread_local void **cgc_root_free;
    extern _Thread_local size_t cgc_root_free_count;
    void **cell = cgc_root_free;
    if (__builtin_expect(cell == NULL, 0)) return cgc_root_take_slow(object);
    cgc_root_free = (void **)*cell;
    cgc_root_free_count--;
    *cell = object;
    return cell;
}

/// Gives a cell back (to this thread's list, whichever thread took it).
static inline void cgc_root_give(void **cell) {
    extern _Thread_local void **cgc_root_free;       // roots.c
    extern _Thread_local size_t cgc_root_free_count; // roots.c
    *cell = cgc_root_free;
    cgc_root_free = cell;
    if (__builtin_expect(++cgc_root_free_count > CGC_ROOT_LOCAL_MAX, 0)) cgc_root_trim();
}

#ifdef __cplusplus
}
#endif

#endif
