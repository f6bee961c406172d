// Declarations shared by the shim's own .c files, not part of its API.
#ifndef CGCSUPPORT_INTERNAL_H
#define CGCSUPPORT_INTERNAL_H

#include "CGCSupport.h"

void cgc_install_event_callback(void);
/// The mark-end sweep of every weak region (weak.c): every slot after a
/// full collection, only the slots written since the last collection after a
/// partial one.
void cgc_weak_sweep(int full);
void cgc_threads_init(void);
/// Gives this thread's free root cells back to the pool (at thread exit).
void cgc_root_thread_exit(void);
/// Makes the root-cell pool's lock usable again in a forked child.
void cgc_roots_after_fork(void);
/// Makes the finalizer batch lock usable again in a forked child.
void cgc_finalizers_after_fork(void);

#endif
