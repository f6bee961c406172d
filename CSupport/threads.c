// Initialisation and thread registration.
//
// Why C: GC_INIT is a macro; the registration fast path is a thread-local
// flag; and the unregistration must happen in a pthread-key destructor.
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>

_Thread_local int cgc_thread_registered = 0;

// Threads registered through this shim and not yet unregistered.
static _Atomic long registered_threads;

long cgc_registered_thread_count(void) { return registered_threads; }

static pthread_key_t exit_key;

// Runs when a registered thread exits: the collector must stop scanning
// its stack before the stack is unmapped.
static void unregister_at_exit(void *unused) {
    (void)unused;
    if (cgc_thread_registered) {
        cgc_thread_registered = 0;
        GC_unregister_my_thread();
        registered_threads--;
    }
}

// Dispatch's worker threads (and so Swift concurrency's pool) block most
// signals, among them the two libgc stops and restarts the world with; a
// registered thread that cannot receive them aborts the collector with
// "Signals delivery fails constantly".
static void unblock_world_stop_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, GC_get_suspend_signal());
    sigaddset(&set, GC_get_thr_restart_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int cgc_init(void) {
    // GC_INIT may run on any thread: on Linux, libgc 8.2.2 takes the
    // primordial stack bottom from GC_get_stack_base of the calling thread
    // (os_dep.c, GC_get_main_stack_base), so a worker thread's stack is
    // scanned correctly (LifecycleTests.concurrentFirstUseFromWorkerThreads).
    // Before GC_INIT, so the collection GC_INIT itself may run is counted
    // and the epoch equals GC_get_gc_no().
    cgc_install_event_callback();
    GC_INIT();
    GC_allow_register_threads();
    pthread_key_create(&exit_key, unregister_at_exit);
    // The initialising thread is registered by GC_INIT; unregister it at
    // exit like any other (libgc marks it detached, so that is allowed).
    cgc_thread_registered = 1;
    registered_threads++;
    pthread_setspecific(exit_key, (void *)1);
    unblock_world_stop_signals();
    return 0;
}

int cgc_register_current_thread(void) {
    if (GC_thread_is_registered()) {
        // Registered by someone else (GC_INIT on the main thread, or a
        // caller using libgc directly): just remember it.
        cgc_thread_registered = 1;
        unblock_world_stop_signals();
        return 0;
    }
    struct GC_stack_base sb;
    if (GC_get_stack_base(&sb) != GC_SUCCESS) return -1;
    int status = GC_register_my_thread(&sb);
    if (status != GC_SUCCESS && status != GC_DUPLICATE) return -1;
    cgc_thread_registered = 1;
    registered_threads++;
    pthread_setspecific(exit_key, (void *)1);
    unblock_world_stop_signals();
    return 0;
}

void cgc_unregister_current_thread(void) {
    if (!cgc_thread_registered) return;
    cgc_thread_registered = 0;
    pthread_setspecific(exit_key, NULL);
    GC_unregister_my_thread();
    registered_threads--;
}
