// Initialisation, and which loaded modules the collector scans.
//
// Why C: GC_INIT is a macro, and the has-static-roots callback runs inside a
// collection with the allocation lock held, where it may not allocate.
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// Substrings of the paths of shared objects whose writable segments the
// collector does not scan (set before GC_INIT, then read-only).
#define MAX_UNSCANNED_MODULES 16
static char *unscanned[MAX_UNSCANNED_MODULES];
static int unscanned_count;

int cgc_add_unscanned_module(const char *pattern) {
    if (unscanned_count == MAX_UNSCANNED_MODULES) return -1;
    char *copy = strdup(pattern);
    if (copy == NULL) return -1;
    unscanned[unscanned_count++] = copy;
    return 0;
}

// Before each collection libgc lists the loaded modules (dl_iterate_phdr)
// and records the writable segment of each as a root range; it stops the
// world only afterwards. A module unloaded in between (dlclose on another
// thread) leaves a root range over unmapped memory, and the marker faults
// on it. glibc's iconv does exactly that: iconv_close may dlclose an idle
// converter module (gconv/*.so) on the calling thread. Modules that never
// hold pointers to GC objects can be left out of the root set, which closes
// the window for them.
static int has_static_roots(const char *name, void *start, size_t size) {
    (void)start;
    (void)size;
    if (name == NULL) return 1;
    for (int i = 0; i < unscanned_count; i++)
        if (strstr(name, unscanned[i]) != NULL) return 0;
    return 1;
}

// libgc calls this when an allocation cannot be satisfied, even after a
// collection (the heap limit, or the system refused memory), and returns
// what it returns. Setting errno here means the C API's allocators return
// libgc's result as it is: NULL with ENOMEM.
static void *out_of_memory(size_t bytes) {
    (void)bytes;
    errno = ENOMEM;
    return NULL;
}

void cgc_set_out_of_memory_returns_null(void) { GC_set_oom_fn(out_of_memory); }

int cgc_init(void) {
    // C code may have started libgc through gc.h before the library's first
    // use (GC_INIT, or any GC_MALLOC). The library then adopts it: every
    // setting below takes effect after GC_INIT too, but for the fork
    // handling, which the load-time constructor in threads.c settled first.
    int adopting = GC_is_init_called();
    cgc_install_event_callback(adopting);
    GC_register_has_static_roots_callback(has_static_roots);
    // GC_INIT may run on any thread: on Linux, libgc 8.2.2 takes the
    // primordial stack bottom from GC_get_stack_base of the calling thread
    // (os_dep.c, GC_get_main_stack_base), so a worker thread's stack is
    // scanned correctly (LifecycleTests.concurrentFirstUseFromWorkerThreads).
    GC_INIT();
    GC_allow_register_threads();
    return cgc_threads_init();
}
