// Thread registration, the library gate, and fork.
//
// Why C: the registration fast path and the gate are thread-locals read on
// every call; unregistration must happen in a pthread-key destructor; the
// fork handlers run inside fork(), before any Swift code may take a lock.
#define _GNU_SOURCE  // pthread_setname_np
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Thread_local int cgc_thread_registered = 0;
_Thread_local cgc_thread_record cgc_self = {0};

int cgc_gate_pending = 0;
unsigned cgc_fork_generation = 1;

// Every thread registered through this shim, linked through its cgc_self.
// A record lives in its thread's TLS block, so it is unlinked (at exit)
// before that block is freed.
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static cgc_thread_record *threads;
static long registered_threads;

static pthread_key_t exit_key;
static void (*child_callback)(void);
static long futex(int *word, int op, int value);

long cgc_registered_thread_count(void) {
    pthread_mutex_lock(&threads_lock);
    long count = registered_threads;
    pthread_mutex_unlock(&threads_lock);
    return count;
}

static void link_self(void) {
    pthread_mutex_lock(&threads_lock);
    cgc_self.prev = NULL;
    cgc_self.next = threads;
    if (threads) threads->prev = &cgc_self;
    threads = &cgc_self;
    registered_threads++;
    pthread_mutex_unlock(&threads_lock);
}

static void unlink_self(void) {
    pthread_mutex_lock(&threads_lock);
    if (cgc_self.prev) cgc_self.prev->next = cgc_self.next; else threads = cgc_self.next;
    if (cgc_self.next) cgc_self.next->prev = cgc_self.prev;
    cgc_self.next = cgc_self.prev = NULL;
    registered_threads--;
    pthread_mutex_unlock(&threads_lock);
}

// libgc stops the world by signalling every registered thread (SIGPWR) and
// restarts it with another (SIGXCPU). A registered thread that blocks them
// cannot be stopped: after 150 resends, 100 ms apart, libgc aborts with
// "Signals delivery fails constantly". Dispatch's workers block them, and
// dispatch_main() blocks every signal on the main thread just before it
// calls pthread_exit.
static void unblock_world_stop_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, GC_get_suspend_signal());
    sigaddset(&set, GC_get_thr_restart_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

struct thread_start {
    const char *name;
    void (*body)(void *);
    void *context;
    sem_t began;
};

static void *thread_main(void *argument) {
    struct thread_start *start = argument;
    char name[16];
    snprintf(name, sizeof name, "%s", start->name);
    pthread_setname_np(pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    void (*body)(void *) = start->body;
    void *context = start->context;
    sem_post(&start->began);  // start lives on the creator's stack: not read after this
    body(context);
    return NULL;
}

int cgc_start_thread(const char *name, void (*body)(void *), void *context) {
    struct thread_start start = {name, body, context};
    sem_init(&start.began, 0, 0);
    pthread_t thread;
    int status = pthread_create(&thread, NULL, thread_main, &start);
    if (status == 0) {
        pthread_detach(thread);
        while (sem_wait(&start.began) != 0) {}  // EINTR
    }
    sem_destroy(&start.began);
    return status;
}

static void unregister_self(void) {
    cgc_root_thread_exit();
    cgc_thread_registered = 0;
    pthread_setspecific(exit_key, NULL);
    unlink_self();
    // C code may have unregistered the thread through gc.h already; libgc
    // 8.2.2 dereferences a null thread record if asked twice.
    if (GC_thread_is_registered()) GC_unregister_my_thread();
}

// Runs when a registered thread exits: the collector must stop scanning its
// stack before the stack is unmapped. The thread may exit with every signal
// blocked (pthread_exit after dispatch_main's sigmask, or any thread that
// masked them); GC_unregister_my_thread waits for the allocation lock, and a
// collection holding that lock waits for this thread to acknowledge the
// suspend signal: unblock it first, or both wait until libgc aborts.
static void unregister_at_exit(void *unused) {
    (void)unused;
    if (!cgc_thread_registered) return;
    unblock_world_stop_signals();
    unregister_self();
}

int cgc_threads_init(void) {
    pthread_key_create(&exit_key, unregister_at_exit);
    // The initialising thread: registered by GC_INIT (libgc marks it
    // detached, so unregistering it at exit is allowed), or, when C code
    // started libgc on another thread, registered here like any other.
    return cgc_register_current_thread();
}

int cgc_register_current_thread(void) {
    if (cgc_thread_registered) return 0;
    // First: from GC_register_my_thread on, a collection waits for this
    // thread to acknowledge the suspend signal, and this thread may still
    // wait for a lock (libgc's, or threads_lock, which a forking thread
    // holds while it waits for libgc's): with the signal blocked both wait
    // until libgc aborts.
    unblock_world_stop_signals();
    if (!GC_thread_is_registered()) {
        struct GC_stack_base sb;
        if (GC_get_stack_base(&sb) != GC_SUCCESS) return -1;
        int status = GC_register_my_thread(&sb);
        if (status != GC_SUCCESS && status != GC_DUPLICATE) return -1;
    }
    // Registered now, by us or by someone using libgc directly.
    cgc_thread_registered = 1;
    link_self();
    pthread_setspecific(exit_key, (void *)1);
    return 0;
}

void cgc_unregister_current_thread(void) {
    if (!cgc_thread_registered) return;
    unregister_self();
}

// MARK: The gate

static long futex(int *word, int op, int value) {
    return syscall(SYS_futex, word, op, value, NULL, NULL, 0);
}

void cgc_gate_wait(void) {
    // Not inside any section: step out of the gate and wait for the fork to
    // finish, then enter again.
    for (;;) {
        __atomic_fetch_sub(&cgc_self.depth, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&cgc_gate_pending, __ATOMIC_SEQ_CST))
            futex(&cgc_gate_pending, FUTEX_WAIT_PRIVATE, 1);
        if (__atomic_fetch_add(&cgc_self.depth, 1, __ATOMIC_SEQ_CST) == 0
            && __atomic_load_n(&cgc_gate_pending, __ATOMIC_SEQ_CST))
            continue;
        return;
    }
}

int cgc_gate_enter_unregistered(void) {
    // Before the library starts (settings being configured) there is no
    // thread to register with it: only count. (libgc itself may have been
    // started by C code; registering would need GC_allow_register_threads,
    // which the start calls.)
    if (cgc_runtime() == NULL) {
        __atomic_fetch_add(&cgc_self.depth, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    if (cgc_register_current_thread() != 0) return -1;
    cgc_gate_enter();
    return 0;
}

// MARK: Fork
//
// One set of fork handlers, installed when the program loads, so it exists
// before any thread can start the collector. libgc's own handlers are off:
// GC_set_handle_fork(0) counts only before GC_INIT, and C code may start
// libgc through gc.h before the library's first use, so it is set at load
// too. Ours call libgc's GC_atfork_* functions at the right point whoever
// started libgc, so the order is ours to choose and matches the order in
// which the library takes its locks: a collector start in progress, then
// every section of the library, then libgc's allocation lock. (libgc's own
// handlers registered before ours, by a GC_INIT that ran before this
// library was loaded, run after ours before a fork and before ours after
// it: the same order; GC_atfork_* do nothing then. Had they been registered
// after ours, libgc would hold its lock while ours wait for a thread that
// waits for it: C code must not call GC_set_handle_fork.)

static int gc_forking;

void cgc_set_fork_child_handler(void (*in_child)(void)) { child_callback = in_child; }

// Before fork, on the forking thread: wait for a collector start in
// progress; then close the gate and wait until no other thread is inside a
// section of ours, so every lock of ours is free when the address space is
// copied (threads_lock stays held across the fork, so the child's list is
// consistent); then libgc's handler takes the allocation lock once no
// collection runs.
static void fork_prepare(void) {
    cgc_runtime_lock();
    if (!GC_is_init_called()) return;
    __atomic_store_n(&cgc_gate_pending, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        pthread_mutex_lock(&threads_lock);
        int busy = 0;
        for (cgc_thread_record *t = threads; t != NULL; t = t->next) {
            if (t != &cgc_self && __atomic_load_n(&t->depth, __ATOMIC_SEQ_CST) > 0) {
                busy = 1;
                break;
            }
        }
        if (!busy) break;
        pthread_mutex_unlock(&threads_lock);
        struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
    }
    gc_forking = 1;
    GC_atfork_prepare();
}

static void open_gate(void) {
    __atomic_store_n(&cgc_gate_pending, 0, __ATOMIC_SEQ_CST);
    futex(&cgc_gate_pending, FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

static void fork_parent(void) {
    if (gc_forking) {
        gc_forking = 0;
        GC_atfork_parent();
        pthread_mutex_unlock(&threads_lock);
        open_gate();
    }
    cgc_runtime_unlock();
}

// In the child only the forking thread exists: libgc forgets the others;
// then forget them here too, make the locks the shim owns usable again,
// start a new fork generation (locks held across user code at the fork are
// known by it), and let Swift restart the library's own threads.
static void fork_child(void) {
    if (gc_forking) {
        gc_forking = 0;
        GC_atfork_child();
        pthread_mutex_init(&threads_lock, NULL);
        threads = NULL;
        registered_threads = 0;
        if (cgc_thread_registered) {
            threads = &cgc_self;
            cgc_self.next = cgc_self.prev = NULL;
            registered_threads = 1;
        }
        cgc_finalizers_after_fork();
        cgc_roots_after_fork();
        __atomic_fetch_add(&cgc_fork_generation, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&cgc_gate_pending, 0, __ATOMIC_SEQ_CST);
    }
    cgc_runtime_after_fork();
    if (cgc_runtime() != NULL && child_callback != NULL) child_callback();
}

__attribute__((constructor)) static void install_fork_handlers(void) {
    // Before any code of the program can call GC_INIT (see above).
    GC_set_handle_fork(0);
    // Without these, a forked child could hang or trap; nothing to report
    // to at load time, so a refusal (ENOMEM only) is left silent.
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}
