// Threads: registration, the scoped entry, and thread creation.
//
// Why C: this is the public C API (bgc.h). Registration itself is the C
// shim's (CSupport/threads.c), which unblocks libgc's signals and
// unregisters the thread at exit.
#include "internal.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>

int bgc_register_thread(void) { return bgc_enter(); }

int bgc_unregister_thread(void) {
    // A finalizer or hook runs on a thread of the library's (or inside
    // bgc_run_finalizers), with the finalized object on its stack.
    if (cgc_in_callback()) return BGC_EPERM;
    cgc_unregister_current_thread();
    return BGC_SUCCESS;
}

int bgc_thread_is_registered(void) { return cgc_current_thread_is_registered(); }

void *bgc_with_gc(void *(*fn)(void *data), void *data) {
    if (fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (cgc_current_thread_is_registered()) return fn(data);
    if (bgc_enter_slow() != BGC_SUCCESS) {
        errno = EAGAIN;
        return NULL;
    }
    void *result = fn(data);
    cgc_unregister_current_thread();
    return result;
}

// What a new thread needs from its creator, on the creator's stack: the
// creator waits until the thread has registered and copied fn and arg onto
// its own stack, so `arg` is always on a stack the collector scans.
typedef struct thread_start {
    void *(*fn)(void *);
    void *arg;
    sem_t registered;
    int status;
} thread_start;

static void *run_thread(void *raw) {
    thread_start *start = raw;
    void *(*fn)(void *) = start->fn;
    void *arg = start->arg;
    int status = bgc_enter();
    start->status = status;
    // From here `start` may be gone.
    sem_post(&start->registered);
    if (status != BGC_SUCCESS) return NULL;
    return fn(arg);
}

int bgc_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *arg), void *arg) {
    if (fn == NULL || thread == NULL) return EINVAL;
    if (bgc_enter() != BGC_SUCCESS) return EAGAIN;
    thread_start start = {.fn = fn, .arg = arg, .status = BGC_SUCCESS};
    if (sem_init(&start.registered, 0, 0) != 0) return EAGAIN;
    int error = pthread_create(thread, attr, run_thread, &start);
    if (error == 0) {
        // Waiting, this thread must stay stoppable: a caller may block every
        // signal around thread creation (so the new thread starts with them
        // blocked), and a collection on another thread would then wait for
        // this one for ever. The new thread unblocks its own.
        sigset_t world_stop, previous;
        sigemptyset(&world_stop);
        sigaddset(&world_stop, GC_get_suspend_signal());
        sigaddset(&world_stop, GC_get_thr_restart_signal());
        pthread_sigmask(SIG_UNBLOCK, &world_stop, &previous);
        // libgc's stop-the-world signals interrupt the wait.
        while (sem_wait(&start.registered) != 0 && errno == EINTR) {
        }
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        if (start.status != BGC_SUCCESS) error = EAGAIN;
    }
    sem_destroy(&start.registered);
    // Keep `arg` in this frame until the new thread holds it.
    cgc_keep_alive(arg);
    return error;
}
