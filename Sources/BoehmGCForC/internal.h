// Declarations shared by the C API's own .c files, not part of bgc.h.
#ifndef BGC_INTERNAL_H
#define BGC_INTERNAL_H

#include "bgc.h"

#include <CGCSupport.h>

// MARK: The Swift half
//
// What bgc.h offers whose mechanism lives in Swift: functions the BoehmGC
// module exports with @_cdecl (Sources/BoehmGC/Internals/CEntryPoints.swift).
// Each declaration here must match its definition there; the C interop
// tests (Tests/CInterop) call every one.

/// Starts the library (Runtime.start), registering the calling thread.
void cgc_swift_start(void);
/// GC.configure with these fields (0 keeps a default); 0, -EALREADY or
/// -EINVAL.
int cgc_swift_configure(ptrdiff_t initial_heap_size, ptrdiff_t maximum_heap_size, double maximum_heap_share,
                        ptrdiff_t free_space_divisor,
                        int explicit_finalizers, int full_every, const char *const *modules, ptrdiff_t module_count);
/// After libgc returned NULL for an allocation of `size` bytes of `kind`
/// (0 scanned, 1 pointer-free, 2 uncollectable, 3 a realloc of `object`): one
/// rationed collection, then the allocation again (HeapLimit.collectingOnce);
/// NULL if it still fails or the ration is spent.
void *cgc_swift_allocate_after_failure(ptrdiff_t size, int kind, void *object);
/// GC.setMaximumHeapSize (0: none); 0 or -EINVAL.
int cgc_swift_set_maximum_heap_size(ptrdiff_t bytes);
/// GC.runFinalizers.
ptrdiff_t cgc_swift_run_finalizers(void);
/// ForeignMemory.add (one object); 0 or -EOVERFLOW.
int cgc_swift_register_allocation(ptrdiff_t bytes, uint64_t *window);
/// ForeignMemory.remove in `window` (UINT64_MAX: none); 0 or -EINVAL.
int cgc_swift_unregister_allocation(ptrdiff_t bytes, uint64_t window);
/// ForeignMemory.statistics into fields[0...4]: live bytes, live objects,
/// bytes since collection, collections requested, byte budget (0: none).
void cgc_swift_foreign_statistics(ptrdiff_t *fields);
/// A retained PostGCHook calling fn(collection, data), or NULL.
void *cgc_swift_hook_add(void (*fn)(uint64_t collection, void *data), void *data);
/// Cancels and releases a hook made by cgc_swift_hook_add; with `wait`,
/// first waits until no run of it is in progress.
void cgc_swift_hook_remove(void *hook, int wait);

// MARK: Entering

/// Starts the library if needed and registers the calling thread. Returns
/// 0, or BGC_EAGAIN if libgc refused the thread.
int bgc_enter_slow(void);

/// What every call does first: one thread-local load once the thread is
/// registered (a registered thread implies a started library).
static inline int bgc_enter(void) {
    if (__builtin_expect(cgc_current_thread_is_registered(), 1)) return 0;
    return bgc_enter_slow();
}

/// What every call on an existing object checks first: bgc_enter, then
/// that `object` is the start of a GC heap object (GC_base). Returns
/// BGC_SUCCESS, BGC_EAGAIN or BGC_EINVAL.
static inline int bgc_enter_with_object(const void *object) {
    if (bgc_enter() != BGC_SUCCESS) return BGC_EAGAIN;
    return object != NULL && GC_base((void *)object) == object ? BGC_SUCCESS : BGC_EINVAL;
}

#endif
