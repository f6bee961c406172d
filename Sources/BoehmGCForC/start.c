// Starting the library, its configuration, and the status codes.
//
// Why C: this is the public C API (bgc.h); the start itself and the
// configuration's rules live in Swift (Runtime, GC.configure).
#include "internal.h"

#include <stdint.h>

int bgc_enter_slow(void) {
    if (cgc_runtime() == NULL) cgc_swift_start();
    return cgc_register_current_thread() == 0 ? BGC_SUCCESS : BGC_EAGAIN;
}

int bgc_init(void) { return bgc_enter(); }

int bgc_is_started(void) { return cgc_runtime() != NULL; }

int bgc_configure(const bgc_configuration *configuration) {
    if (configuration == NULL) return BGC_EINVAL;
    const bgc_configuration *c = configuration;
    // Swift takes signed sizes; anything past PTRDIFF_MAX is past 2^47 too.
    if (c->initial_heap_size > PTRDIFF_MAX || c->maximum_heap_size > PTRDIFF_MAX
        || c->free_space_divisor > PTRDIFF_MAX || c->unscanned_module_count > PTRDIFF_MAX)
        return BGC_EINVAL;
    if (c->finalizers != BGC_FINALIZERS_ON_THREAD && c->finalizers != BGC_FINALIZERS_EXPLICIT) return BGC_EINVAL;
    if (c->full_every < 0) return BGC_EINVAL;
    if (!(c->maximum_heap_share >= 0 && c->maximum_heap_share <= 1)) return BGC_EINVAL;
    if (c->unscanned_modules == NULL && c->unscanned_module_count != 0) return BGC_EINVAL;
    return cgc_swift_configure((ptrdiff_t)c->initial_heap_size, (ptrdiff_t)c->maximum_heap_size,
                               c->maximum_heap_share, (ptrdiff_t)c->free_space_divisor, c->finalizers == BGC_FINALIZERS_EXPLICIT,
                               c->full_every, c->unscanned_modules, (ptrdiff_t)c->unscanned_module_count);
}

const char *bgc_strerror(int status) {
    switch (status) {
    case BGC_SUCCESS: return "success";
    case BGC_EINVAL: return "invalid argument: out of range, or not the start of a GC object";
    case BGC_ENOMEM: return "out of memory for the library's records";
    case BGC_EALREADY: return "the library has started: start-up settings are sealed";
    case BGC_EEXIST: return "the object already has a finalizer (libgc keeps one per object)";
    case BGC_ENOENT: return "nothing of the library's to remove";
    case BGC_EOVERFLOW: return "the foreign-memory count would pass PTRDIFF_MAX";
    case BGC_EAGAIN: return "libgc refused to register the calling thread";
    case BGC_EPERM: return "not allowed from a finalizer or a post-GC hook";
    default: return "unknown status";
    }
}
