// Finalizers and post-GC hooks: the trampoline libgc calls, the batch that
// runs finalizers, the pass that runs hooks, and the wake-ups of their two
// threads.
//
// Why C: the trampoline is what libgc calls; it forwards to the Swift
// handler and then wipes the dead stack below it. The wake-ups are posted
// from inside a collection (libgc's finalizer notifier, and the
// collection-event callback after every collection), where only
// async-signal-safe calls that never allocate are allowed. The batch and
// the pass are marked per thread (a thread-local depth), which Swift has no
// cheap way to do.
#define _GNU_SOURCE  // pthread_mutex_clocklock
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

static cgc_finalizer_handler handler;

void cgc_set_finalizer_handler(cgc_finalizer_handler h) { handler = h; }

_Thread_local int cgc_finalizer_depth = 0;

static void trampoline(void *object, void *data) {
    cgc_finalizer_depth++;
    handler(object, data);
    cgc_finalizer_depth--;
}

__attribute__((noinline)) void cgc_clear_dead_stack(void) {
    // 16 KiB covers the frames of GC_invoke_finalizers, the trampoline and
    // the Swift handler. volatile keeps the stores.
    volatile char wipe[16384];
    memset((char *)wipe, 0, sizeof wipe);
    __asm__ __volatile__("" : : "r"(wipe) : "memory");
}

int cgc_register_finalizer(void *object, void *data, void **old_data) {
    GC_finalization_proc old_fn = NULL;
    void *old_cd = NULL;
    GC_register_finalizer_no_order(object, trampoline, data, &old_fn, &old_cd);
    if (old_fn == NULL) return 0;
    if (old_fn == trampoline) {
        *old_data = old_cd;
        return 1;
    }
    // Someone else's finalizer: put it back, refuse.
    GC_register_finalizer_no_order(object, old_fn, old_cd, NULL, NULL);
    return -1;
}

int cgc_unregister_finalizer(void *object, void **old_data) {
    GC_finalization_proc old_fn = NULL;
    void *old_cd = NULL;
    GC_register_finalizer_no_order(object, NULL, NULL, &old_fn, &old_cd);
    if (old_fn == NULL) return 0;
    if (old_fn == trampoline) {
        *old_data = old_cd;
        return 1;
    }
    GC_register_finalizer_no_order(object, old_fn, old_cd, NULL, NULL);
    return -1;
}

// C finalizers (the C API's bgc_set_finalizer). libgc holds the record as
// the finalizer's client data in its finalizer table, which it scans, so the
// record and the data it points to stay alive until the finalizer runs or
// is removed; then the record is garbage.
typedef struct c_finalizer {
    void (*fn)(void *object, void *data);
    void *data;
} c_finalizer;

static void c_trampoline(void *object, void *record) {
    c_finalizer *finalizer = record;
    cgc_finalizer_depth++;
    finalizer->fn(object, finalizer->data);
    cgc_finalizer_depth--;
}

int cgc_set_c_finalizer(void *object, void (*fn)(void *object, void *data), void *data) {
    c_finalizer *record = GC_malloc(sizeof *record);
    if (record == NULL) return -2;
    record->fn = fn;
    record->data = data;
    GC_finalization_proc old_fn = NULL;
    void *old_cd = NULL;
    GC_register_finalizer_no_order(object, c_trampoline, record, &old_fn, &old_cd);
    if (old_fn == NULL) return 0;
    // The object had one: put it back, refuse.
    GC_register_finalizer_no_order(object, old_fn, old_cd, NULL, NULL);
    return -1;
}

int cgc_remove_c_finalizer(void *object) {
    GC_finalization_proc old_fn = NULL;
    void *old_cd = NULL;
    GC_register_finalizer_no_order(object, NULL, NULL, &old_fn, &old_cd);
    if (old_fn == c_trampoline) return 0;
    if (old_fn != NULL) GC_register_finalizer_no_order(object, old_fn, old_cd, NULL, NULL);
    return -1;
}

__attribute__((noinline)) static size_t invoke_all(void) {
    size_t total = 0;
    for (;;) {
        size_t count = (size_t)GC_invoke_finalizers();
        if (count == 0) return total;
        total += count;
    }
}

// Held while a batch of finalizers runs, so that cgc_run_finalizers returns
// only once no batch is still running on another thread. A pthread mutex,
// not a Swift one: finalizers run user code for any length of time, so fork
// does not wait for them; the child, where the thread that held it does not
// exist, initialises it again.
static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;

size_t cgc_run_finalizers(void) {
    size_t count;
    if (cgc_finalizer_depth > 0) {
        // A finalizer draining the queue: its batch already holds the lock.
        count = invoke_all();
    } else {
        pthread_mutex_lock(&batch_lock);
        count = invoke_all();
        pthread_mutex_unlock(&batch_lock);
    }
    cgc_clear_dead_stack();
    return count;
}

// MARK: The pass of post-GC hooks

// Held while a pass of post-GC hooks runs, so that cgc_run_hooks returns
// only once no pass is still running on another thread. Apart from the
// finalizers' batch lock: a pass never waits for finalizers, nor a batch for
// hooks. A pthread mutex for the reasons batch_lock is one (hooks run user
// code).
static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;
// Depth of passes on this thread (cgc_in_hook_pass): GC.runFinalizers
// traps inside a pass, so no pass should start inside another; if one did,
// it would run without waiting for its own pass.
static _Thread_local int hook_depth = 0;

void cgc_run_hooks(void (*pass)(void *context), void *context) {
    if (hook_depth > 0) {
        pass(context);
        return;
    }
    pthread_mutex_lock(&pass_lock);
    hook_depth++;
    pass(context);
    hook_depth--;
    pthread_mutex_unlock(&pass_lock);
    cgc_clear_dead_stack();
}

int cgc_in_hook_pass(void) { return hook_depth > 0; }

void cgc_finalizers_after_fork(void) {
    pthread_mutex_init(&batch_lock, NULL);
    pthread_mutex_init(&pass_lock, NULL);
}

// MARK: The wake-ups of the finalizer and hook threads

// A thread's wake-up: a semaphore posted from inside a collection, once the
// thread's owner prepared it (posts before that find no thread to wake).
struct wakeup {
    sem_t posts;
    int prepared;  // __atomic builtins only
};

static void wakeup_prepare(struct wakeup *w) {
    sem_init(&w->posts, 0, 0);
    __atomic_store_n(&w->prepared, 1, __ATOMIC_RELEASE);
}

static int wakeup_prepared(struct wakeup *w) { return __atomic_load_n(&w->prepared, __ATOMIC_ACQUIRE); }

static void wakeup_post(struct wakeup *w) {
    if (wakeup_prepared(w)) sem_post(&w->posts);
}

static void wakeup_wait(struct wakeup *w) {
    while (sem_wait(&w->posts) != 0 && errno == EINTR) {
    }
}

static struct wakeup finalizer_wakeup;

static void notify(void) { sem_post(&finalizer_wakeup.posts); }

void cgc_finalizer_thread_prepare(void) {
    wakeup_prepare(&finalizer_wakeup);
    GC_set_finalizer_notifier(notify);
}

void cgc_finalizer_thread_wait(void) { wakeup_wait(&finalizer_wakeup); }

void cgc_wake_finalizer_thread(void) { wakeup_post(&finalizer_wakeup); }

// The hook thread's: posted at the end of every collection; the thread takes
// every post that piled up before a pass, so one pass follows many quick
// collections.
static struct wakeup hook_wakeup;

void cgc_hook_thread_prepare(void) { wakeup_prepare(&hook_wakeup); }

void cgc_hook_thread_wait(void) {
    wakeup_wait(&hook_wakeup);
    while (sem_trywait(&hook_wakeup.posts) == 0) {
    }
}

void cgc_wake_hook_thread(void) { wakeup_post(&hook_wakeup); }

// MARK: Waiting for the finalizer thread

int cgc_finalizer_thread_catch_up(uint64_t timeout_ns) {
    if (!wakeup_prepared(&finalizer_wakeup) || cgc_finalizer_depth > 0 || hook_depth > 0) return 1;
    if (!GC_should_invoke_finalizers()) return 1;
    uint64_t deadline = now_ns() + timeout_ns;
    // The queue empties as the finalizer thread takes its last entry; poll
    // it, sleeping so that thread gets the processor (on a loaded machine
    // it is what the allocating thread starves).
    while (GC_should_invoke_finalizers()) {
        if (now_ns() >= deadline) return 0;
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
    }
    // Then wait for the batch that took them to end.
    struct timespec until = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
    if (pthread_mutex_clocklock(&batch_lock, CLOCK_MONOTONIC, &until) != 0) return 0;
    pthread_mutex_unlock(&batch_lock);
    return 1;
}
