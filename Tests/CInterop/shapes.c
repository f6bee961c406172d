// Program shapes of C code using the library: threads made in C, C first,
// fork. Through bgc.h only (and gc.h alone where a shape says so).
#include "support.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// MARK: Lists built by C threads

typedef struct cons {
    intptr_t car;
    struct cons *cdr;
} cons;

enum { LIST_LENGTH = 50 };

typedef struct list_worker {
    int how;
    int id;
    int lists;
    int corrupt;
    /// Whether the thread began with libgc's suspend signal blocked.
    int began_blocked;
} list_worker;

static int suspend_signal_blocked(void) {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    return sigismember(&mask, SIGPWR);
}

static int collecting;

static void *collect_until_done(void *unused) {
    (void)unused;
    bgc_register_thread();
    while (__atomic_load_n(&collecting, __ATOMIC_ACQUIRE)) {
        bgc_collect();
        usleep(200);
    }
    return NULL;
}

static intptr_t value_of(int id, int list, int index) { return (intptr_t)id * 1000003 + list * 101 + index; }

static void *allocate(list_worker *worker, size_t size) {
    // The control: gc.h alone, from a thread libgc does not know.
    return worker->how == CINTEROP_THREADS_UNREGISTERED ? GC_malloc(size) : bgc_malloc(size);
}

static void *build_lists(void *raw) {
    list_worker *worker = raw;
    int lists = worker->lists;
    if (worker->how == CINTEROP_THREADS_DIRECT) worker->began_blocked = suspend_signal_blocked();
    // The heads live in a scanned GC array that only this thread's stack
    // reaches: if the collector did not know the thread, it would free them.
    // Or, for RANGES, in malloc'd memory that only root ranges hold.
    int ranges = worker->how == CINTEROP_THREADS_RANGES;
    cons **heads = ranges ? calloc((size_t)lists, sizeof *heads) : allocate(worker, (size_t)lists * sizeof *heads);
    if (heads == NULL) return NULL;
    if (ranges) {
        bgc_add_roots(heads, heads + lists);
        bgc_add_roots(heads, heads + lists);
        bgc_remove_roots(heads, heads + lists);
    }
    for (int l = 0; l < lists; l++) {
        cons *list = NULL;
        for (int i = LIST_LENGTH - 1; i >= 0; i--) {
            cons *cell = allocate(worker, sizeof *cell);
            if (cell == NULL) return NULL;
            cell->car = value_of(worker->id, l, i);
            cell->cdr = list;
            list = cell;
        }
        heads[l] = list;
        // Now and then, wait for a collection to run between lists.
        if (l % 64 == 63) {
            if (ranges) bgc_add_roots(heads, heads + l / 2);
            usleep(500);
            if (ranges) bgc_remove_roots(heads, heads + l / 2);
        }
    }
    int corrupt = 0;
    for (int l = 0; l < lists; l++) {
        int i = 0;
        cons *cell = heads[l];
        while (cell != NULL && i < LIST_LENGTH && cell->car == value_of(worker->id, l, i)) {
            cell = cell->cdr;
            i++;
        }
        corrupt += i != LIST_LENGTH || cell != NULL;
    }
    worker->corrupt = corrupt;
    if (ranges) {
        bgc_remove_roots(heads, heads + lists);
        free(heads);
    }
    return NULL;
}

static void *blocked_then_registered(void *raw) {
    ((list_worker *)raw)->began_blocked = suspend_signal_blocked();
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    bgc_register_thread();
    return build_lists(raw);
}

static void *scoped(void *raw) { return bgc_with_gc(build_lists, raw); }

int cinterop_lists(int how, int threads, int lists, cinterop_report *report) {
    pthread_t collector;
    __atomic_store_n(&collecting, 1, __ATOMIC_RELEASE);
    pthread_create(&collector, NULL, collect_until_done, NULL);
    list_worker workers[64];
    pthread_t ids[64];
    if (threads > 64) threads = 64;
    for (int t = 0; t < threads; t++) {
        workers[t] = (list_worker){.how = how, .id = t, .lists = lists, .corrupt = -1};
        int error = 0;
        switch (how) {
        case CINTEROP_THREADS_WRAPPER: error = bgc_pthread_create(&ids[t], NULL, build_lists, &workers[t]); break;
        case CINTEROP_THREADS_BLOCKED: error = pthread_create(&ids[t], NULL, blocked_then_registered, &workers[t]); break;
        case CINTEROP_THREADS_SCOPED: error = pthread_create(&ids[t], NULL, scoped, &workers[t]); break;
        default: error = pthread_create(&ids[t], NULL, build_lists, &workers[t]); break;
        }
        CHECK(report, error == 0, "thread %d made (error %d)", t, error);
    }
    int corrupt = 0, unfinished = 0, began_blocked = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        if (workers[t].corrupt < 0) unfinished++;
        else corrupt += workers[t].corrupt;
        began_blocked += workers[t].began_blocked;
    }
    // Where the shape can see it (threads it made with pthread_create), what
    // mask the threads inherited: a Dispatch worker's blocks SIGPWR.
    if (how == CINTEROP_THREADS_DIRECT || how == CINTEROP_THREADS_BLOCKED)
        printf("%d of %d threads began with SIGPWR blocked\n", began_blocked, threads);
    __atomic_store_n(&collecting, 0, __ATOMIC_RELEASE);
    pthread_join(collector, NULL);
    CHECK(report, unfinished == 0, "%d of %d threads could not allocate", unfinished, threads);
    CHECK(report, corrupt == 0, "%d of %d lists corrupt (freed early)", corrupt, threads * lists);
    return corrupt + unfinished;
}

// MARK: Creating threads with every signal blocked

static void *short_lived(void *unused) {
    (void)unused;
    for (int i = 0; i < 100; i++) cinterop_keep(bgc_malloc(64));
    return NULL;
}

int cinterop_blocked_create(int rounds, cinterop_report *report) {
    bgc_register_thread();
    pthread_t collector;
    __atomic_store_n(&collecting, 1, __ATOMIC_RELEASE);
    pthread_create(&collector, NULL, collect_until_done, NULL);
    // The idiom: block every signal so the new thread starts with them
    // blocked, create it, restore. The caller is registered.
    int failed = 0;
    for (int i = 0; i < rounds; i++) {
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &previous);
        pthread_t thread;
        int error = bgc_pthread_create(&thread, NULL, short_lived, NULL);
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        if (error == 0) pthread_join(thread, NULL);
        failed += error != 0;
    }
    __atomic_store_n(&collecting, 0, __ATOMIC_RELEASE);
    pthread_join(collector, NULL);
    CHECK(report, failed == 0, "%d of %d threads made with every signal blocked in the caller failed", failed, rounds);
    return failed;
}

// MARK: C first, and fork

void cinterop_start_first(int raw) {
    if (raw) {
        // C code that knows nothing of the library: libgc starts here.
        GC_INIT();
        void *p = GC_MALLOC(64);
        cinterop_keep(p);
    } else {
        bgc_init();
    }
}

void cinterop_raw_collect(void) { GC_gcollect(); }

uint64_t cinterop_raw_collection_number(void) { return GC_get_gc_no(); }

static void drop(void *object, void *data) {
    (void)object;
    (void)data;
}

static void *keep_busy(void *unused) {
    (void)unused;
    bgc_register_thread();
    for (unsigned round = 0;; round++) {
        cons *list = NULL;
        for (int i = 0; i < 200; i++) {
            cons *cell = bgc_malloc(sizeof *cell);
            if (cell == NULL) continue;
            cell->cdr = list;
            list = cell;
            if (i % 20 == 0) bgc_set_finalizer(cell, drop, NULL);
        }
        bgc_root *root = bgc_root_create(list);
        bgc_weak_ref *ref = bgc_weak_ref_create(list, BGC_WEAK_SHORT);
        void *block = bgc_counted_malloc(4096);
        cons **held = malloc(sizeof *held);
        *held = list;
        bgc_add_roots(held, held + 1);
        bgc_counted_free(block);
        bgc_weak_ref_destroy(ref);
        bgc_remove_roots(held, held + 1);
        free(held);
        bgc_root_destroy(root);
        if (round % 16 == 0) bgc_collect();
    }
    return NULL;
}

// A thread that blocks every signal before its first bgc_ call (which
// registers it and unblocks libgc's two).
static void *blocked_first(void *unused) {
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (int i = 0; i < 200; i++) cinterop_keep(bgc_malloc(32));
    return NULL;
}

static void *spawn_blocked_first(void *unused) {
    (void)unused;
    for (;;) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, blocked_first, NULL) == 0) pthread_join(thread, NULL);
    }
    return NULL;
}

void cinterop_start_busy_threads(void) {
    for (int i = 0; i < 2; i++) {
        pthread_t thread;
        bgc_pthread_create(&thread, NULL, keep_busy, NULL);
        pthread_detach(thread);
    }
    pthread_t spawner;
    pthread_create(&spawner, NULL, spawn_blocked_first, NULL);
    pthread_detach(spawner);
}

static int child_finalized;
static void count_child_finalized(void *object, void *data) {
    (void)object;
    (void)data;
    __atomic_fetch_add(&child_finalized, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static void drop_finalizable(int count) {
    for (int i = 0; i < count; i++) {
        void *object = bgc_malloc(32);
        bgc_set_finalizer(object, count_child_finalized, NULL);
    }
}

int cinterop_child_work(void) {
    enum { KEPT = 1000 };
    intptr_t **kept = bgc_malloc(KEPT * sizeof *kept);
    for (int i = 0; i < KEPT; i++) {
        kept[i] = bgc_malloc(2 * sizeof(intptr_t));
        kept[i][0] = i;
    }
    int before = __atomic_load_n(&child_finalized, __ATOMIC_RELAXED);
    drop_finalizable(100);
    cinterop_scrub_stack();
    bgc_collect();
    bgc_run_finalizers();
    int finalized = __atomic_load_n(&child_finalized, __ATOMIC_RELAXED) - before;
    void *counted = bgc_counted_malloc(1000);
    bgc_counted_free(counted);
    int intact = 1;
    for (int i = 0; i < KEPT; i++) intact &= kept[i][0] == i;
    if (!intact || finalized == 0) {
        fprintf(stderr, "child: intact %d, finalized %d\n", intact, finalized);
        return 1;
    }
    return 0;
}

int cinterop_fork_children(int children, cinterop_report *report) {
    int failed = 0, hung = 0;
    for (int c = 0; c < children; c++) {
        usleep((useconds_t)(rand() % 2000));
        pid_t pid = fork();
        if (pid < 0) {
            CHECK(report, 0, "fork failed: errno %d", errno);
            return children;
        }
        if (pid == 0) _exit(cinterop_child_work());
        int status = 0;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            pid_t done = waitpid(pid, &status, WNOHANG);
            if (done == pid) break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec > 30) {
                fprintf(stderr, "child %d hung for 30 s: killed\n", (int)pid);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                hung++;
                status = 0;
                break;
            }
            usleep(1000);
        }
        if (status != 0) failed++;
    }
    CHECK(report, hung == 0 && failed == 0, "%d children: %d hung, %d failed", children, hung, failed);
    return hung + failed;
}
