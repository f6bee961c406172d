// Finalizers and post-GC hooks for C functions.
//
// Why C: this is the public C API (bgc.h). C finalizers go through the C
// shim's trampoline (CSupport/finalizers.c), so they run where Swift's do;
// hooks are Swift PostGCHooks that call the C function.
#include "internal.h"

#include <errno.h>

int bgc_set_finalizer(void *object, bgc_finalizer fn, void *data) {
    if (fn == NULL) return BGC_EINVAL;
    int status = bgc_enter_with_object(object);
    if (status != BGC_SUCCESS) return status;
    switch (cgc_set_c_finalizer(object, fn, data)) {
    case 0: return BGC_SUCCESS;
    case -1: return BGC_EEXIST;
    default: return BGC_ENOMEM;
    }
}

int bgc_remove_finalizer(void *object) {
    int status = bgc_enter_with_object(object);
    if (status != BGC_SUCCESS) return status;
    return cgc_remove_c_finalizer(object) == 0 ? BGC_SUCCESS : BGC_ENOENT;
}

size_t bgc_run_finalizers(void) {
    if (bgc_enter() != BGC_SUCCESS) return 0;
    return (size_t)cgc_swift_run_finalizers();
}

bgc_post_gc_hook *bgc_post_gc_hook_add(void (*fn)(uint64_t collection, void *data), void *data) {
    if (fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (bgc_enter() != BGC_SUCCESS) {
        errno = EAGAIN;
        return NULL;
    }
    void *hook = cgc_swift_hook_add(fn, data);
    if (hook == NULL) errno = ENOMEM;
    return hook;
}

void bgc_post_gc_hook_remove(bgc_post_gc_hook *hook) {
    if (hook == NULL || bgc_enter() != BGC_SUCCESS) return;
    // From a finalizer or hook, the run in progress may be this very call.
    cgc_swift_hook_remove(hook, !cgc_in_callback());
}
