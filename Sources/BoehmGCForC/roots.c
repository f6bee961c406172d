// Roots: one-word root cells, and root ranges.
//
// Why C: this is the public C API (bgc.h). A root is one of the C shim's
// root cells (CSupport/roots.c), the cells Swift's GCRoot and GCHandle use.
#include "internal.h"

#include <errno.h>
#include <gc/gc_mark.h>
#include <stdint.h>

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

// The ranges added through bgc_add_roots. They are not libgc root ranges:
// libgc merges root ranges that share a start (GC_add_roots_inner,
// mark_rts.c) and GC_remove_roots drops every range lying wholly inside the
// one it is given, so a range added twice would be one range there and
// either removal would drop both. Here each add counts, and the collector
// reads this list itself: a push-other-roots procedure, run while a
// collection marks (world stopped, libgc's allocation lock held), scans
// every listed range, then calls libgc's own (which pushes the thread
// stacks). The list changes only under that lock (GC_call_with_alloc_lock),
// so a collection sees it whole, and libgc's fork handling, which takes the
// lock before the fork, finds it consistent.
#define MAX_RANGES 1024

struct range {
    void *start;
    void *end;
};

static struct range ranges[MAX_RANGES];
static int range_count;
static int pushing_ranges;
static GC_push_other_roots_proc libgc_push_other_roots;

// Allocation lock held, world stopped. Scans each range at once (the
// eager push marks what it finds; a range is not queued on the mark
// stack, which 1,024 of them could overflow).
static void GC_CALLBACK push_ranges(void) {
    for (int i = 0; i < range_count; i++) {
        if (ranges[i].start < ranges[i].end) GC_push_all_eager(ranges[i].start, ranges[i].end);
    }
    if (libgc_push_other_roots != NULL) libgc_push_other_roots();
}

struct range_change {
    struct range range;
    int adds;
    int status;
};

// Allocation lock held: adds or removes one range.
static void *change_ranges(void *data) {
    struct range_change *change = data;
    if (!pushing_ranges) {
        libgc_push_other_roots = GC_get_push_other_roots();
        GC_set_push_other_roots(push_ranges);
        pushing_ranges = 1;
    }
    if (change->adds) {
        if (range_count == MAX_RANGES) {
            change->status = BGC_ENOMEM;
        } else {
            ranges[range_count++] = change->range;
            change->status = BGC_SUCCESS;
        }
        return NULL;
    }
    change->status = BGC_ENOENT;
    for (int i = 0; i < range_count; i++) {
        if (ranges[i].start == change->range.start && ranges[i].end == change->range.end) {
            ranges[i] = ranges[--range_count];
            change->status = BGC_SUCCESS;
            break;
        }
    }
    return NULL;
}

int bgc_add_roots(void *start, void *end) {
    if ((uintptr_t)start > (uintptr_t)end) return BGC_EINVAL;
    if (bgc_enter() != BGC_SUCCESS) return BGC_EAGAIN;
    struct range_change change = {.range = {start, end}, .adds = 1};
    GC_call_with_alloc_lock(change_ranges, &change);
    return change.status;
}

int bgc_remove_roots(void *start, void *end) {
    if (bgc_enter() != BGC_SUCCESS) return BGC_EAGAIN;
    struct range_change change = {.range = {start, end}, .adds = 0};
    GC_call_with_alloc_lock(change_ranges, &change);
    return change.status;
}
