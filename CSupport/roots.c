// Root cells: the one-word cells GCRoot and GCHandle keep their objects in.
//
// Why C: taking and giving back a cell is on the path of every safe lookup.
// A lock or an atomic read-modify-write there is a full barrier that stops
// the processor from overlapping one lookup's cache misses with the next
// (with one, a safe table lookup costs 7x an unsafe one); so each thread
// keeps a free list of its own, in thread-locals Swift cannot read cheaply,
// and the shared pool behind them is used in batches.
//
// Cells come from slabs of malloc'd memory, each registered once as a root
// range (GC_add_roots), so a live cell keeps its object alive. They are not
// GC heap memory: taking a cell never counts against the heap limit and
// never fails there. A free cell holds the next free cell's address (malloc
// memory, which the collector ignores). Slabs double from 1,024 cells to
// 65,536 and are never freed: libgc keeps at most 2,048 root ranges
// (MAX_ROOT_SETS in 8.2.2's gc_priv.h), and 16 slabs already hold a million
// roots. A forked child loses the lists of the threads it does not have
// (a few hundred cells each, never reused).
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

#define BATCH (CGC_ROOT_LOCAL_MAX / 4)

_Thread_local void **cgc_root_free;
_Thread_local size_t cgc_root_free_count;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void **pool; // the shared free list
static size_t next_slab_cells = 1024;

static int add_slab_locked(void) {
    size_t count = next_slab_cells;
    void **slab = calloc(count, sizeof(void *));
    if (slab == NULL) return -1;
    for (size_t i = 0; i + 1 < count; i++) slab[i] = &slab[i + 1];
    slab[count - 1] = pool;
    pool = slab;
    GC_add_roots(slab, slab + count);
    next_slab_cells = count < 65536 ? count * 2 : 65536;
    return 0;
}

void **cgc_root_take_slow(void *object) {
    cgc_gate_enter();
    pthread_mutex_lock(&pool_lock);
    for (int n = 0; n < BATCH; n++) {
        if (pool == NULL && add_slab_locked() != 0) break;
        void **cell = pool;
        pool = *cell;
        *cell = cgc_root_free;
        cgc_root_free = cell;
        cgc_root_free_count++;
    }
    pthread_mutex_unlock(&pool_lock);
    cgc_gate_exit();
    if (cgc_root_free == NULL) return NULL; // malloc refused a slab
    return cgc_root_take(object);
}

// Gives `count` cells of this thread's list back to the pool.
static void give_back(size_t count) {
    if (count == 0) return;
    cgc_gate_enter();
    pthread_mutex_lock(&pool_lock);
    for (size_t n = 0; n < count && cgc_root_free != NULL; n++) {
        void **cell = cgc_root_free;
        cgc_root_free = *cell;
        cgc_root_free_count--;
        *cell = pool;
        pool = cell;
    }
    pthread_mutex_unlock(&pool_lock);
    cgc_gate_exit();
}

void cgc_root_trim(void) { give_back(cgc_root_free_count - CGC_ROOT_LOCAL_MAX / 2); }

void cgc_root_thread_exit(void) { give_back(cgc_root_free_count); }

void cgc_roots_after_fork(void) { pthread_mutex_init(&pool_lock, NULL); }
