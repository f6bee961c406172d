#ifndef CBOEHMGC_SHIM_H
#define CBOEHMGC_SHIM_H

// Threads are registered by hand (CSupport/threads.c), so libgc must not
// redirect pthread_create and friends to its own wrappers.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1

#include <gc/gc.h>
#include <gc/gc_mark.h>

#endif
