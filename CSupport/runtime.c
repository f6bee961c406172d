// The runtime object and the process-wide slots.
//
// Why C: both must exist, zeroed, before any Swift code runs, and be made
// under a lock the fork handlers (threads.c) take too, so a forked child
// never inherits a half-made object; a Swift lazy global or lock could be
// copied by fork in the middle of its initialisation.
#include "internal.h"

#include <pthread.h>

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static void *runtime_instance;
void *cgc_process_wide[CGC_PROCESS_WIDE_SLOTS];

void *cgc_runtime(void) { return __atomic_load_n(&runtime_instance, __ATOMIC_ACQUIRE); }

void *cgc_runtime_start(void *(*create)(void)) {
    pthread_mutex_lock(&runtime_lock);
    void *instance = runtime_instance;
    if (instance == NULL) {
        instance = create();
        __atomic_store_n(&runtime_instance, instance, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&runtime_lock);
    return instance;
}

void cgc_runtime_lock(void) { pthread_mutex_lock(&runtime_lock); }

void cgc_runtime_unlock(void) { pthread_mutex_unlock(&runtime_lock); }

void cgc_runtime_after_fork(void) { pthread_mutex_init(&runtime_lock, NULL); }
