// Allocation, explicit free, collections and the heap limit.
//
// Why C: this is the public C API (bgc.h), and allocation must cost no more
// than libgc's own (a thread-local check, then GC_malloc).
#include "internal.h"

#include <errno.h>
#include <stdint.h>

// libgc's out-of-memory function (set at the start, CSupport/init.c) sets
// errno to ENOMEM and returns NULL, so these return libgc's result as it is
// (a tail call).

void *bgc_malloc(size_t size) {
    if (__builtin_expect(bgc_enter() != BGC_SUCCESS, 0)) {
        errno = EAGAIN;
        return NULL;
    }
    return GC_malloc(size);
}

void *bgc_malloc_pointerless(size_t size) {
    if (__builtin_expect(bgc_enter() != BGC_SUCCESS, 0)) {
        errno = EAGAIN;
        return NULL;
    }
    return GC_malloc_atomic(size);
}

void *bgc_malloc_uncollectable(size_t size) {
    if (bgc_enter() != BGC_SUCCESS) {
        errno = EAGAIN;
        return NULL;
    }
    return GC_malloc_uncollectable(size);
}

void *bgc_realloc(void *object, size_t size) {
    if (object == NULL) return bgc_malloc(size);
    if (bgc_enter() != BGC_SUCCESS) {
        errno = EAGAIN;
        return NULL;
    }
    if (!bgc_is_object_start(object)) {
        errno = EINVAL;
        return NULL;
    }
    return GC_realloc(object, size);
}

int bgc_free(void *object) {
    if (object == NULL) return BGC_SUCCESS;
    if (bgc_enter() != BGC_SUCCESS) return BGC_EAGAIN;
    if (!bgc_is_object_start(object)) return BGC_EINVAL;
    GC_free(object);
    return BGC_SUCCESS;
}

void bgc_collect(void) {
    if (bgc_enter() != BGC_SUCCESS) return;
    GC_gcollect();
}

uint64_t bgc_collection_count(void) {
    (void)bgc_enter();
    return cgc_collection_epoch();
}

int bgc_set_maximum_heap_size(size_t bytes) {
    if (bytes > PTRDIFF_MAX) return BGC_EINVAL;
    return cgc_swift_set_maximum_heap_size((ptrdiff_t)bytes);
}
