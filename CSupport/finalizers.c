// The finalizer trampoline and the post-GC sentinel.
//
// Why C: the trampoline is what libgc calls; it forwards to the Swift
// handler and then wipes the dead stack below it, and the sentinel's address
// must never be left where the collector scans (a stale copy in a dead
// frame kept it alive in unoptimised builds).
#include "internal.h"

#include <pthread.h>
#include <string.h>

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

void cgc_finalizers_after_fork(void) { pthread_mutex_init(&batch_lock, NULL); }

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

// MARK: Post-GC sentinel

__attribute__((noinline)) static int sentinel_create(void *owner, void *data,
                                                     uintptr_t *hidden_out) {
    void **sentinel = GC_MALLOC_ATOMIC(sizeof(void *));
    if (sentinel == NULL) return -1;
    if (owner != NULL) {
        *sentinel = owner;
        if (GC_general_register_disappearing_link(sentinel, owner) == GC_NO_MEMORY)
            return -1;
    } else {
        // No owner: a non-zero word that is not an object. The sentinel is
        // pointer-free, so the word is never scanned either way.
        *sentinel = (void *)1;
    }
    GC_register_finalizer_no_order(sentinel, trampoline, data, NULL, NULL);
    *hidden_out = cgc_hide(sentinel);
    sentinel = NULL;
    return 0;
}

int cgc_sentinel_create(void *owner, void *data, uintptr_t *hidden_out) {
    int status = sentinel_create(owner, data, hidden_out);
    cgc_clear_dead_stack();
    return status;
}

static void *read_hidden_word(void *hidden) {
    return *(void **)cgc_reveal((uintptr_t)hidden);
}

int cgc_sentinel_owner_alive(uintptr_t hidden_sentinel) {
    int alive = GC_call_with_alloc_lock(read_hidden_word, (void *)hidden_sentinel) != NULL;
    cgc_clear_dead_stack();
    return alive;
}

void cgc_sentinel_rearm(void *sentinel, void *data) {
    GC_register_finalizer_no_order(sentinel, trampoline, data, NULL, NULL);
}
