// Starting the collector (init.c).
//
// The library starts libgc once per process, from the `create` function of
// cgc_runtime_start (cgc_runtime.h): first the GC_set_* settings and
// cgc_add_unscanned_module, then cgc_init, which runs GC_INIT on whichever
// thread gets there first, or adopts a libgc that C code started through
// gc.h before the library. Nothing here is safe to call concurrently with
// itself; the runtime's lock orders the calls. Every function returns a
// status (0, or -1) and never aborts or prints.
#ifndef CGC_INIT_H
#define CGC_INIT_H

#ifdef __cplusplus
extern "C" {
#endif

/// Initialises the collector on the calling thread, any thread (GC_INIT),
/// allows other threads to register, installs the collection-event and
/// has-static-roots callbacks, and registers the calling thread. When C code
/// started libgc through gc.h already, adopts it (the collection counts go
/// on from GC_get_gc_no()). Call once, from the `create` function of
/// cgc_runtime_start, after the GC_set_* settings and
/// cgc_add_unscanned_module. Returns 0, or -1 if libgc refused to register
/// the calling thread.
int cgc_init(void);

/// Makes an allocation that cannot be satisfied return NULL with errno
/// ENOMEM (GC_set_oom_fn) instead of aborting.
void cgc_set_out_of_memory_returns_null(void);

/// Leaves every loaded shared object whose path contains `pattern` out of
/// the collector's roots. Before cgc_init only. Returns 0, or -1 when the
/// table of 16 patterns is full or memory is short.
int cgc_add_unscanned_module(const char *pattern);

#ifdef __cplusplus
}
#endif

#endif
