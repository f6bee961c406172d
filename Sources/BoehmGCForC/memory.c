// Allocation, explicit free, collections and the heap limit.
//
// Why C: this is the public C API (bgc.h), and allocation must cost no more
// than libgc's own (a thread-local check, then GC_malloc).
#include "internal.h"

#include <errno.h>
#include <stdint.h>

// At the heap limit libgc returns NULL without collecting when little was
// allocated since its last collection: a program that dropped its data and
// allocates again would be refused for ever. The slow path collects once
// (rationed) and tries again, as Swift's allocations do. libgc's
// out-of-memory function (CSupport/init.c) sets errno to ENOMEM.
__attribute__((noinline, cold)) static void *after_failure(size_t size, int kind, void *object) {
    void *result = cgc_swift_allocate_after_failure((ptrdiff_t)size, kind, object);
    if (result == NULL) errno = ENOMEM;
    return result;
}

void *bgc_malloc(size_t size) {
    if (__builtin_expect(bgc_enter() != BGC_SUCCESS, 0)) {
        errno = EAGAIN;
        return NULL;
    }
    void *object = GC_malloc(size);
    if (__builtin_expect(object != NULL, 1)) return object;
    return after_failure(size, 0, NULL);
}

void *bgc_malloc_pointerless(size_t size) {
    if (__builtin_expect(bgc_enter() != BGC_SUCCESS, 0)) {
        errno = EAGAIN;
        return NULL;
    }
    void *object = GC_malloc_atomic(size);
    if (__builtin_expect(object != NULL, 1)) return object;
    return after_failure(size, 1, NULL);
}

void *bgc_malloc_uncollectable(size_t size) {
    if (bgc_enter() != BGC_SUCCESS) {
        errno = EAGAIN;
        return NULL;
    }
    void *object = GC_malloc_uncollectable(size);
    return object != NULL ? object : after_failure(size, 2, NULL);
}

void *bgc_realloc(void *object, size_t size) {
    if (object == NULL) return bgc_malloc(size);
    int status = bgc_enter_with_object(object);
    if (status != BGC_SUCCESS) {
        errno = -status;
        return NULL;
    }
    void *moved = GC_realloc(object, size);
    return moved != NULL || size == 0 ? moved : after_failure(size, 3, object);
}

int bgc_free(void *object) {
    if (object == NULL) return BGC_SUCCESS;
    int status = bgc_enter_with_object(object);
    if (status == BGC_SUCCESS) GC_free(object);
    return status;
}

void bgc_collect(void) {
    if (bgc_enter() != BGC_SUCCESS) return;
    GC_gcollect();
}

uint64_t bgc_collection_count(void) { return cgc_collections_completed(); }

int bgc_set_maximum_heap_size(size_t bytes) {
    if (bytes > PTRDIFF_MAX) return BGC_EINVAL;
    return cgc_swift_set_maximum_heap_size((ptrdiff_t)bytes);
}
