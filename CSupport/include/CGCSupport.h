// The C shim of BoehmGC: only what Swift cannot do. This umbrella header is
// what Swift imports as the module CGCSupport; each concept has a header of
// its own, named after the .c file that implements it:
//
// - cgc_init.h: starting libgc (GC_INIT is a macro), the modules it skips.
// - cgc_runtime.h: the runtime object and the process-wide slots.
// - cgc_threads.h: thread registration (a thread-local flag; the signals
//   libgc stops the world with, which Dispatch blocks), the gate, fork.
// - cgc_roots.h: root cells, from per-thread free lists.
// - cgc_events.h: the collection-event callback's counters and pauses.
// - cgc_finalizers.h: the finalizer trampoline, batches, and the finalizer
//   thread's wake-up (a batch clears the dead stack below it).
// - cgc_foreign.h: malloc measurement, futexes for resource records.
// - cgc_weak.h: weak regions and slots, and their sweep in each collection.
// - cgc_pressure.h: system calls of the memory-pressure monitor.
//
// No header declares a mutable global: state the inline fast paths read
// (thread-locals, the sweep window's word, the epoch) is reached through a
// block-scope `extern` inside the inline function, which Swift never sees.
// Policy, naming, errors and ownership live in Swift.
#ifndef CGCSUPPORT_H
#define CGCSUPPORT_H

// shim.h (GC_THREADS, then gc.h) lives with the system library target.
#include "../../Sources/CBoehmGC/shim.h"

#include "cgc_events.h"
#include "cgc_finalizers.h"
#include "cgc_foreign.h"
#include "cgc_init.h"
#include "cgc_pressure.h"
#include "cgc_roots.h"
#include "cgc_runtime.h"
#include "cgc_threads.h"
#include "cgc_weak.h"

#endif
