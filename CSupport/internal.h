// Declarations shared by the shim's own .c files, not part of its API.
#ifndef CGCSUPPORT_INTERNAL_H
#define CGCSUPPORT_INTERNAL_H

#include "CGCSupport.h"

void cgc_install_event_callback(void);
/// The sweep of every weak region (weak.c), in two steps: at mark end, with
/// the world stopped, list the jobs (every slot after a full collection, only
/// the slots written since the last collection after a partial one) and open
/// the sweep window; just after the world restarts, run them and close it.
void cgc_weak_sweep_prepare(int full);
void cgc_weak_sweep_run(void);
void cgc_threads_init(void);
/// Gives this thread's free root cells back to the pool (at thread exit).
void cgc_root_thread_exit(void);
/// Makes the root-cell pool's lock usable again in a forked child.
void cgc_roots_after_fork(void);
/// Makes the finalizer batch lock usable again in a forked child.
void cgc_finalizers_after_fork(void);

#endif
