// Weak regions: what the mark-end sweep knows of each weak table, and the
// sweep itself.
//
// Why C: the sweep runs inside a collection, at mark end, with the world
// stopped and the allocation lock held. It must not allocate, take a lock a
// stopped thread may hold, or run Swift code that might. It reads mark bits
// (GC_is_marked) and writes slot words, nothing else.
#include "internal.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Regions of all live weak tables. Changed only under the allocation lock,
// walked by the sweep, which holds it.
static cgc_weak_region *regions;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// MARK: Sweeping one range

// Marks DEAD each entry of slots [start, end) whose weak side the marker did
// not reach. No owner is between two of its instructions in a way that
// matters (owners change weak fields with compare-and-exchange and treat DEAD
// as final). The strong half of a dead entry stays in place, still traced,
// for the owner's vacuum. A field that is 0 while the key is set is an entry
// being written (weak values, whose target the writer holds): nothing to
// test yet. Almost all the time goes to GC_is_marked's load of the mark byte,
// a cache miss per live slot: the loop is kept short so that the processor
// overlaps as many of them as it can.
static size_t sweep_range(cgc_slot *storage, size_t start, size_t end, int flags) {
    size_t dead = 0;
    switch (flags) {
    case CGC_WEAK_KEYS:
        for (size_t i = start; i < end; i++) {
            uintptr_t key = storage[i].key;
            if (key <= CGC_SLOT_DEAD || GC_is_marked(cgc_reveal(key))) continue;
            storage[i].key = CGC_SLOT_DEAD;
            dead++;
        }
        break;
    case CGC_WEAK_VALUES:
        for (size_t i = start; i < end; i++) {
            uintptr_t value = storage[i].value;
            if (storage[i].key <= CGC_SLOT_DEAD || value <= CGC_SLOT_DEAD
                || GC_is_marked(cgc_reveal(value)))
                continue;
            storage[i].value = CGC_SLOT_DEAD;
            dead++;
        }
        break;
    default: // keys and values: nothing strong to keep
        for (size_t i = start; i < end; i++) {
            uintptr_t key = storage[i].key;
            if (key <= CGC_SLOT_DEAD) continue;
            uintptr_t value = storage[i].value;
            if (GC_is_marked(cgc_reveal(key))
                && (value <= CGC_SLOT_DEAD || GC_is_marked(cgc_reveal(value))))
                continue;
            storage[i].key = CGC_SLOT_DEAD;
            storage[i].value = 0;
            dead++;
        }
        break;
    }
    return dead;
}

// Tests the young slots young[from..<to] of a region (a partial
// collection). A slot number past the capacity (the owner was stopped while
// it reset its log) is skipped: the log is then ignored anyway.
static size_t sweep_young(cgc_weak_region *r, size_t from, size_t to) {
    size_t dead = 0;
    size_t capacity = r->capacity[0];
    for (size_t n = from; n < to; n++) {
        size_t i = r->young[n];
        if (i < capacity) dead += sweep_range(r->storage[0], i, i + 1, r->flags);
    }
    return dead;
}

// Whether a partial collection may test only the region's young slots: its
// log covers the whole window since the last collection.
static int young_log_usable(cgc_weak_region *r) {
    return r->storage[1] == NULL
           && __atomic_load_n(&r->young_window, __ATOMIC_ACQUIRE) == __atomic_load_n(&cgc_epoch_word, __ATOMIC_ACQUIRE)
           && !__atomic_load_n(&r->young_overflow, __ATOMIC_ACQUIRE);
}

void cgc_weak_note_young_slow(cgc_weak_region *r, size_t slot, uint64_t window) {
    if (r->young_window != window) {
        // A new window: start the log again. Overflow and count first, the
        // window last, so a sweep never takes an old log for a new one.
        __atomic_store_n(&r->young_overflow, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&r->young_count, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&r->young_window, window, __ATOMIC_RELEASE);
    }
    if (r->young_count == r->young_capacity) {
        // Grow (64 Ki slot numbers to start, at most 4 Mi); the old array
        // is freed only after the new one is published, so a sweep never
        // reads freed memory.
        size_t bigger = r->young_capacity ? r->young_capacity * 2 : 65536;
        size_t *grown = bigger <= (4u << 20) ? malloc(bigger * sizeof(size_t)) : NULL;
        if (grown == NULL) {
            __atomic_store_n(&r->young_overflow, 1, __ATOMIC_RELEASE);
            return;
        }
        if (r->young_count) memcpy(grown, r->young, r->young_count * sizeof(size_t));
        size_t *old = r->young;
        __atomic_store_n(&r->young, grown, __ATOMIC_RELEASE);
        __atomic_store_n(&r->young_capacity, bigger, __ATOMIC_RELEASE);
        free(old);
    }
    r->young[r->young_count] = slot;
    __atomic_store_n(&r->young_count, r->young_count + 1, __ATOMIC_RELEASE);
}

// MARK: Sharing the sweep between threads
//
// The slots of every region are cut into jobs of SWEEP_CHUNK slots, which
// the collecting thread and a few helper threads take in turn. The helpers
// are threads libgc does not know, so stopping the world does not stop them;
// they only ever read mark bits and write slot words of the jobs they take,
// between the collector's signal and their report that the jobs are done.
// A small sweep runs on the collecting thread alone (waking helpers costs
// more than it saves).

#define SWEEP_CHUNK 32768
#define MAX_JOBS 4096
#define MAX_HELPERS 7
#define PARALLEL_THRESHOLD (4 * SWEEP_CHUNK)

struct sweep_job {
    cgc_weak_region *region;
    // A partial collection's job: the region's young slots [start, end)
    // rather than slots [start, end).
    int young;
    // 1 when sweeping the storage a move fills (its entries are copies of
    // storage 0's: marked, not counted).
    int copy;
    size_t start;
    size_t end;
};

// Written by the collecting thread before each round's signal, read by the
// helpers after it.
static struct sweep_job jobs[MAX_JOBS];
static size_t job_count;
// Taken and counted with __atomic builtins.
static size_t next_job;
static int helpers_done;
// The helpers wait for this word to change (a futex): one round per sweep.
static int round_word;
static int helper_count;
// The fork generation the helpers were started in: none exist in a child.
static unsigned helpers_generation;
static pthread_mutex_t helpers_lock = PTHREAD_MUTEX_INITIALIZER;

static long futex(int *word, int op, int value) { return syscall(SYS_futex, word, op, value, NULL, NULL, 0); }

static void run_job(const struct sweep_job *job) {
    cgc_weak_region *r = job->region;
    uint64_t start = now_ns();
    size_t dead = job->young ? sweep_young(r, job->start, job->end)
                             : sweep_range(r->storage[job->copy], job->start, job->end, r->flags);
    if (dead && !job->copy) {
        __atomic_fetch_add(&r->dead, dead, __ATOMIC_RELEASE);
        __atomic_fetch_add(&r->dead_total, dead, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&r->sweep_ns, now_ns() - start, __ATOMIC_RELAXED);
}

static void run_jobs(void) {
    for (;;) {
        size_t n = __atomic_fetch_add(&next_job, 1, __ATOMIC_ACQ_REL);
        if (n >= job_count) return;
        run_job(&jobs[n]);
    }
}

static void *helper_main(void *unused) {
    (void)unused;
    // Signals go elsewhere, but for the faults of its own writes: in
    // generational mode libgc write-protects the heap, and its SIGSEGV
    // handler unprotects a page a sweep writes DEAD into (a blocked
    // synchronous fault kills the process).
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int seen = __atomic_load_n(&round_word, __ATOMIC_ACQUIRE);
    for (;;) {
        while (__atomic_load_n(&round_word, __ATOMIC_ACQUIRE) == seen)
            futex(&round_word, FUTEX_WAIT_PRIVATE, seen);
        seen = __atomic_load_n(&round_word, __ATOMIC_ACQUIRE);
        run_jobs();
        __atomic_fetch_add(&helpers_done, 1, __ATOMIC_ACQ_REL);
        futex(&helpers_done, FUTEX_WAKE_PRIVATE, 1);
    }
    return NULL;
}

void cgc_weak_sweep_helpers_start(void) {
    unsigned generation = cgc_current_fork_generation();
    if (__atomic_load_n(&helpers_generation, __ATOMIC_ACQUIRE) == generation) return;
    pthread_mutex_lock(&helpers_lock);
    if (helpers_generation != generation) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int wanted = cpus > 1 ? (int)(cpus - 1 < MAX_HELPERS ? cpus - 1 : MAX_HELPERS) : 0;
        int started = 0;
        for (int i = 0; i < wanted; i++) {
            pthread_t thread;
            if (pthread_create(&thread, NULL, helper_main, NULL) != 0) break;
            pthread_detach(thread);
            started++;
        }
        __atomic_store_n(&helper_count, started, __ATOMIC_RELEASE);
        __atomic_store_n(&helpers_generation, generation, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&helpers_lock);
}

// Queues a job for the round, or runs it here when the job table is full.
// Returns the slots queued. Running a job must never run the queued ones:
// they are the round's, to share with the helpers.
static size_t queue_job(struct sweep_job job) {
    if (job_count == MAX_JOBS) {
        run_job(&job);
        return 0;
    }
    jobs[job_count++] = job;
    return job.end - job.start;
}

// Cuts a storage into jobs and queues them; a small storage is swept here
// and now. Returns the slots queued.
static size_t add_jobs(cgc_weak_region *r, int copy, size_t capacity) {
    if (r->storage[copy] == NULL || capacity == 0) return 0;
    if (capacity < SWEEP_CHUNK) {
        struct sweep_job job = {r, 0, copy, 0, capacity};
        run_job(&job);
        return 0;
    }
    size_t chunk = SWEEP_CHUNK;
    // More slots than jobs: bigger jobs.
    while (capacity / chunk >= MAX_JOBS / 2) chunk *= 2;
    size_t queued = 0;
    for (size_t start = 0; start < capacity; start += chunk) {
        size_t end = start + chunk < capacity ? start + chunk : capacity;
        queued += queue_job((struct sweep_job){r, 0, copy, start, end});
    }
    return queued;
}

uint64_t cgc_weak_sweep_last_ns;

void cgc_weak_sweep(int full) {
    uint64_t start = now_ns();
    job_count = 0;
    size_t slots = 0;
    for (cgc_weak_region *r = regions; r != NULL; r = r->next) {
        if (!full && young_log_usable(r)) {
            size_t count = __atomic_load_n(&r->young_count, __ATOMIC_ACQUIRE);
            if (count) slots += queue_job((struct sweep_job){r, 1, 0, 0, count});
            continue;
        }
        // Storage 1, during a move, holds copies of entries of storage 0:
        // mark both, count storage 0 only.
        slots += add_jobs(r, 1, r->capacity[1]);
        slots += add_jobs(r, 0, r->capacity[0]);
    }
    int helpers = __atomic_load_n(&helper_count, __ATOMIC_ACQUIRE);
    int usable = helpers > 0 && __atomic_load_n(&helpers_generation, __ATOMIC_ACQUIRE)
                                    == cgc_current_fork_generation();
    __atomic_store_n(&next_job, 0, __ATOMIC_RELEASE);
    if (job_count == 0) {
        // Every region was small: swept already.
    } else if (slots < PARALLEL_THRESHOLD || !usable) {
        run_jobs();
    } else {
        __atomic_store_n(&helpers_done, 0, __ATOMIC_RELEASE);
        __atomic_fetch_add(&round_word, 1, __ATOMIC_ACQ_REL);
        futex(&round_word, FUTEX_WAKE_PRIVATE, helpers);
        run_jobs();
        for (;;) {
            int done = __atomic_load_n(&helpers_done, __ATOMIC_ACQUIRE);
            if (done >= helpers) break;
            futex(&helpers_done, FUTEX_WAIT_PRIVATE, done);
        }
    }
    __atomic_store_n(&cgc_weak_sweep_last_ns, now_ns() - start, __ATOMIC_RELAXED);
}

// MARK: Regions

static void *link_region(void *arg) {
    cgc_weak_region *r = arg;
    r->prev = NULL;
    r->next = regions;
    if (regions) regions->prev = r;
    regions = r;
    return NULL;
}

static void *unlink_region(void *arg) {
    cgc_weak_region *r = arg;
    if (r->prev) r->prev->next = r->next; else regions = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
    return NULL;
}

cgc_weak_region *cgc_weak_region_create(int flags) {
    cgc_weak_region *r = GC_MALLOC_UNCOLLECTABLE(sizeof(cgc_weak_region));
    if (r == NULL) return NULL;
    r->flags = flags;
    GC_call_with_alloc_lock(link_region, r);
    return r;
}

void cgc_weak_region_destroy(cgc_weak_region *region) {
    GC_call_with_alloc_lock(unlink_region, region);
    free(region->young);
    GC_FREE(region);
}

struct publish_args {
    cgc_weak_region *region;
    cgc_slot *storage;
    size_t capacity;
    void *hashes;
};

static void *publish_locked(void *arg) {
    struct publish_args *a = arg;
    a->region->storage[0] = a->storage;
    a->region->capacity[0] = a->capacity;
    a->region->hashes[0] = a->hashes;
    a->region->storage[1] = NULL;
    a->region->capacity[1] = 0;
    a->region->hashes[1] = NULL;
    return NULL;
}

static void *begin_move_locked(void *arg) {
    struct publish_args *a = arg;
    a->region->storage[1] = a->storage;
    a->region->capacity[1] = a->capacity;
    a->region->hashes[1] = a->hashes;
    return NULL;
}

void cgc_weak_region_publish(cgc_weak_region *region, cgc_slot *storage, size_t capacity,
                             void *hashes) {
    // A table big enough to share its sweep: have the helpers ready (not
    // from inside the collection, where starting a thread could wait on a
    // lock a stopped thread holds).
    if (capacity >= SWEEP_CHUNK) cgc_weak_sweep_helpers_start();
    struct publish_args args = {region, storage, capacity, hashes};
    GC_call_with_alloc_lock(publish_locked, &args);
}

void cgc_weak_region_begin_move(cgc_weak_region *region, cgc_slot *storage, size_t capacity,
                                void *hashes) {
    if (capacity >= SWEEP_CHUNK) cgc_weak_sweep_helpers_start();
    struct publish_args args = {region, storage, capacity, hashes};
    GC_call_with_alloc_lock(begin_move_locked, &args);
}
