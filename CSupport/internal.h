// Declarations shared by the shim's own .c files, not part of its API.
#ifndef CGCSUPPORT_INTERNAL_H
#define CGCSUPPORT_INTERNAL_H

#include "CGCSupport.h"

/// Installs the collection-event and start callbacks; `adopting` when libgc
/// was started before the library (the counts go on from GC_get_gc_no()).
void cgc_install_event_callback(int adopting);
/// The sweep of every weak region (weak.c), in two steps: at mark end, with
/// the world stopped, list the jobs (every slot after a full collection, only
/// the slots written since the last collection after a partial one) and open
/// the sweep window; just after the world restarts, run them and close it.
void cgc_weak_sweep_prepare(int full);
void cgc_weak_sweep_run(void);
/// Sets up thread exit handling and registers the calling thread (as
/// GC_INIT left it, or anew when C code started libgc on another thread).
/// Returns 0, or -1 if libgc refused the thread.
int cgc_threads_init(void);
/// Gives this thread's free root cells back to the pool (at thread exit).
void cgc_root_thread_exit(void);
/// Makes the root-cell pool's lock usable again in a forked child.
void cgc_roots_after_fork(void);
/// Makes the finalizer batch lock and the hook pass lock usable again in a
/// forked child.
void cgc_finalizers_after_fork(void);
/// Wakes the post-GC hook thread, if there is one. Async-signal-safe; never
/// allocates.
void cgc_wake_hook_thread(void);

#endif
