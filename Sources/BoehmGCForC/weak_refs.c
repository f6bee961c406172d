// Weak references: libgc disappearing links in cells of their own.
//
// Why C: this is the public C API (bgc.h); the same mechanism as Swift's
// GCWeakReference.
#include "internal.h"

#include <errno.h>

// The cell is pointer-free and uncollectable: it does not keep its object
// alive, and libgc clears it (world stopped, or under its lock).
struct bgc_weak_ref {
    void *object;
    int strength;
};

bgc_weak_ref *bgc_weak_ref_create(void *object, int strength) {
    if (strength != BGC_WEAK_SHORT && strength != BGC_WEAK_LONG) {
        errno = EINVAL;
        return NULL;
    }
    int status = bgc_enter_with_object(object);
    if (status != BGC_SUCCESS) {
        errno = -status;
        return NULL;
    }
    bgc_weak_ref *ref = GC_malloc_atomic_uncollectable(sizeof *ref);
    if (ref == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    ref->object = object;
    ref->strength = strength;
    int registered = strength == BGC_WEAK_LONG ? GC_register_long_link(&ref->object, object)
                                               : GC_general_register_disappearing_link(&ref->object, object);
    if (registered != GC_SUCCESS) {
        GC_free(ref);
        errno = ENOMEM;
        return NULL;
    }
    return ref;
}

static void *read_link(void *ref) { return ((bgc_weak_ref *)ref)->object; }

void *bgc_weak_ref_get(const bgc_weak_ref *ref) {
    if (ref == NULL || bgc_enter() != BGC_SUCCESS) return NULL;
    // Under the allocation lock, so no collection clears the link and frees
    // the object between the read and the caller's use of it.
    return GC_call_with_alloc_lock(read_link, (void *)ref);
}

void bgc_weak_ref_destroy(bgc_weak_ref *ref) {
    if (ref == NULL || bgc_enter() != BGC_SUCCESS) return;
    if (ref->strength == BGC_WEAK_LONG)
        GC_unregister_long_link(&ref->object);
    else
        GC_unregister_disappearing_link(&ref->object);
    GC_free(ref);
}
