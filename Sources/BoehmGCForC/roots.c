// Roots: one-word root cells, and root ranges.
//
// Why C: this is the public C API (bgc.h). A root is one of the C shim's
// root cells (CSupport/roots.c), the cells Swift's GCRoot and GCHandle use.
#include "internal.h"

#include <errno.h>
#include <pthread.h>

bgc_root *bgc_root_create(void *object) {
    if (bgc_enter() != BGC_SUCCESS) {
        errno = EAGAIN;
        return NULL;
    }
    void **cell = cgc_root_take(object);
    if (cell == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    return (bgc_root *)cell;
}

void *bgc_root_get(const bgc_root *root) { return root != NULL ? *(void *const *)root : NULL; }

void bgc_root_set(bgc_root *root, void *object) {
    if (root != NULL) *(void **)root = object;
}

void bgc_root_destroy(bgc_root *root) {
    if (root == NULL) return;
    // Giving a cell back uses this thread's free list.
    (void)bgc_enter();
    cgc_root_give((void **)root);
}

// The ranges added through bgc_add_roots: libgc aborts past 2,048 root
// ranges (MAX_ROOT_SETS in 8.2.2's gc_priv.h), which the data segments of
// loaded modules share, so these are counted and bounded here, and a
// removal must name a range that was added.
#define MAX_RANGES 1024

static struct {
    void *start;
    void *end;
} ranges[MAX_RANGES];
static int range_count;
// Taken inside the library's gate (fork waits for it).
static pthread_mutex_t ranges_lock = PTHREAD_MUTEX_INITIALIZER;

int bgc_add_roots(void *start, void *end) {
    if ((uintptr_t)start > (uintptr_t)end) return BGC_EINVAL;
    if (bgc_enter() != BGC_SUCCESS) return BGC_EAGAIN;
    int status = BGC_SUCCESS;
    cgc_gate_enter();
    pthread_mutex_lock(&ranges_lock);
    if (range_count == MAX_RANGES) {
        status = BGC_ENOMEM;
    } else {
        ranges[range_count].start = start;
        ranges[range_count].end = end;
        range_count++;
        GC_add_roots(start, end);
    }
    pthread_mutex_unlock(&ranges_lock);
    cgc_gate_exit();
    return status;
}

int bgc_remove_roots(void *start, void *end) {
    if (bgc_enter() != BGC_SUCCESS) return BGC_EAGAIN;
    int status = BGC_ENOENT;
    cgc_gate_enter();
    pthread_mutex_lock(&ranges_lock);
    for (int i = 0; i < range_count; i++) {
        if (ranges[i].start == start && ranges[i].end == end) {
            ranges[i] = ranges[--range_count];
            GC_remove_roots(start, end);
            status = BGC_SUCCESS;
            break;
        }
    }
    pthread_mutex_unlock(&ranges_lock);
    cgc_gate_exit();
    return status;
}
