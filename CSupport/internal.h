// Declarations shared by the shim's own .c files, not part of its API.
#ifndef CGCSUPPORT_INTERNAL_H
#define CGCSUPPORT_INTERNAL_H

#include "CGCSupport.h"

#include <time.h>

/// CLOCK_MONOTONIC now, in nanoseconds (pauses, sweep times, deadlines).
static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// MARK: State the headers' inline functions reach
//
// Each is defined in the .c file named, and declared again at block scope in
// the inline functions of the public headers that read it (so Swift, which
// imports those headers, sees no mutable global). Thread-locals are plain
// loads and stores; the others are read and written with __atomic builtins.

/// 1 once the current thread is registered by cgc_register_current_thread
/// (threads.c).
extern _Thread_local int cgc_thread_registered;
/// The calling thread's record, linked while registered (threads.c).
extern _Thread_local cgc_thread_record cgc_self;
/// Nonzero while a fork is waiting for threads to leave the library
/// (threads.c).
extern int cgc_gate_pending;
/// Starts at 1 and grows by one in each forked child (threads.c).
extern unsigned cgc_fork_generation;
/// The process-wide slots (runtime.c).
extern void *cgc_process_wide[CGC_PROCESS_WIDE_SLOTS];
/// This thread's free root cells, each holding the next one's address, and
/// how many (roots.c).
extern _Thread_local void **cgc_root_free;
extern _Thread_local size_t cgc_root_free_count;
/// Depth of finalizer calls on this thread (finalizers.c).
extern _Thread_local int cgc_finalizer_depth;
/// The collection epoch (events.c; the weak sweep reads it too).
extern uint64_t cgc_epoch_word;
/// The sweep window's sequence word (weak.c).
extern unsigned cgc_weak_sweep_seq;

// MARK: Functions

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
/// The lock cgc_runtime_start makes the runtime under: the fork handlers
/// take it first (a fork waits for a start in progress) and release it in
/// the parent; the child makes it usable again instead.
void cgc_runtime_lock(void);
void cgc_runtime_unlock(void);
void cgc_runtime_after_fork(void);
/// Wakes the post-GC hook thread, if there is one. Async-signal-safe; never
/// allocates.
void cgc_wake_hook_thread(void);

#endif
