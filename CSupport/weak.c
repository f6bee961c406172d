// Weak regions: what the sweep knows of each weak table, and the sweep
// itself.
//
// Why C: the sweep runs inside a collection, with the allocation lock held:
// its jobs are listed at mark end (world stopped) and run just after the
// world restarts, before libgc finalizes and reclaims (cgc_weak.h's opening
// section says why that window is safe). It must not allocate, take a lock a
// mutator may hold, or run Swift code that might. It reads mark bits
// (GC_is_marked) and compare-exchanges slot words, nothing else.
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

unsigned cgc_weak_sweep_seq;
// The last collection's sweep times (cgc_weak.h); __atomic builtins only.
static uint64_t sweep_last_ns;
static uint64_t sweep_stopped_last_ns;

int cgc_weak_target_marked(const void *p) { return GC_is_marked(p); }

// MARK: Killing one entry

// Replaces both words of `slot` if they still read (key, value). A
// keys-and-values entry dies when either target is unmarked, so the sweep's
// decision rests on both words: an owner that replaced one of them meanwhile
// (a new, marked value) must make the exchange fail.
static int exchange_pair(cgc_slot *slot, uintptr_t key, uintptr_t value, uintptr_t new_key,
                         uintptr_t new_value) {
#if defined(__x86_64__)
    // cmpxchg16b compares rdx:rax with the 16 bytes at the (16-byte aligned)
    // slot and, if equal, stores rcx:rbx. Inline assembly: the __atomic
    // builtin on 16 bytes needs -mcx16 (or libatomic) to be lock-free.
    unsigned char done;
    __asm__ __volatile__("lock cmpxchg16b %1\n\tsete %0"
                         : "=q"(done), "+m"(*slot), "+a"(key), "+d"(value)
                         : "b"(new_key), "c"(new_value)
                         : "memory", "cc");
    return done;
#else
    unsigned __int128 expected = ((unsigned __int128)value << 64) | key;
    unsigned __int128 desired = ((unsigned __int128)new_value << 64) | new_key;
    return __atomic_compare_exchange_n((unsigned __int128 *)slot, &expected, desired, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
#endif
}

// Marks the entry DEAD if its fields still read (key, value): the weak field
// for weak keys or weak values, both words for keys and values (the value
// zeroed: nothing strong to keep). Returns 1 if marked here.
static int kill_entry(cgc_slot *slot, int flags, uintptr_t key, uintptr_t value) {
    switch (flags) {
    case CGC_WEAK_KEYS:
        return cgc_exchange_field(&slot->key, key, CGC_SLOT_DEAD);
    case CGC_WEAK_VALUES:
        return cgc_exchange_field(&slot->value, value, CGC_SLOT_DEAD);
    default:
        return exchange_pair(slot, key, value, CGC_SLOT_DEAD, 0);
    }
}

int cgc_weak_kill(cgc_weak_region *region, cgc_slot *slot, uintptr_t key, uintptr_t value) {
    if (!kill_entry(slot, region->flags, key, value)) return 0;
    __atomic_fetch_add(&region->dead, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&region->dead_total, 1, __ATOMIC_RELAXED);
    return 1;
}

int cgc_weak_kill_if_unmarked(cgc_weak_region *region, cgc_slot *slot) {
    unsigned seq = __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE);
    if (!(seq & 1)) return 0;
    uintptr_t key = __atomic_load_n(&slot->key, __ATOMIC_ACQUIRE);
    uintptr_t value = __atomic_load_n(&slot->value, __ATOMIC_ACQUIRE);
    if (!cgc_weak_entry_unmarked(region->flags, key, value)) return 0;
    // Judged by this window's marks: an entry the marker did not reach is
    // dead for good, whenever the exchange lands.
    if (__atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE) != seq) return 0;
    return cgc_weak_kill(region, slot, key, value);
}

// MARK: Sweeping one range

// Marks DEAD each entry of slots [start, end) whose weak side the marker did
// not reach. Owners run meanwhile: an exchange that fails means an owner
// changed the entry since it was read (detached it, or wrote a new, marked
// target into it), so the slot is read and judged again. The strong half of
// a dead entry stays in place, still traced, for the owner's vacuum. A
// weak-value field that is 0 while the key is set is an entry being written
// or removed: nothing to test. Almost all the time goes to GC_is_marked's
// load of the mark byte, a cache miss per live slot: the loop is kept short
// so that the processor overlaps as many of them as it can.
static inline int unmarked(int flags, uintptr_t key, uintptr_t value) {
    if ((flags & CGC_WEAK_KEYS) && !GC_is_marked(cgc_reveal(key))) return 1;
    return (flags & CGC_WEAK_VALUES) && value > CGC_SLOT_DEAD && !GC_is_marked(cgc_reveal(value));
}

static size_t sweep_range(cgc_slot *storage, size_t start, size_t end, int flags) {
    size_t dead = 0;
    for (size_t i = start; i < end; i++) {
        for (;;) {
            uintptr_t key = __atomic_load_n(&storage[i].key, __ATOMIC_ACQUIRE);
            if (key <= CGC_SLOT_DEAD) break;
            uintptr_t value = __atomic_load_n(&storage[i].value, __ATOMIC_ACQUIRE);
            if (!unmarked(flags, key, value)) break;
            if (kill_entry(&storage[i], flags, key, value)) {
                dead++;
                break;
            }
        }
    }
    return dead;
}

// Tests the young slots log[from..<to] of a region (a partial collection).
// A slot number past the capacity (the owner was stopped while it reset its
// log) is skipped: the log is then ignored anyway.
static size_t sweep_young(cgc_weak_region *r, const size_t *log, size_t from, size_t to) {
    size_t dead = 0;
    size_t capacity = r->capacity[0];
    for (size_t n = from; n < to; n++) {
        size_t i = log[n];
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

// Frees the young logs retired during sweep windows that have closed since.
static void free_retired_logs(cgc_weak_region *r, int all) {
    if (r->young_retired == NULL) return;
    if (!all && __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_SEQ_CST) == r->young_retired_seq) return;
    size_t *log = r->young_retired;
    while (log != NULL) {
        size_t *next = (size_t *)log[0];
        free(log);
        log = next;
    }
    r->young_retired = NULL;
}

void cgc_weak_note_young_slow(cgc_weak_region *r, size_t slot, uint64_t window) {
    free_retired_logs(r, 0);
    if (r->young_window != window) {
        // A new window: start the log again. Overflow and count first, the
        // window last, so a sweep never takes an old log for a new one.
        __atomic_store_n(&r->young_overflow, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&r->young_count, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&r->young_window, window, __ATOMIC_RELEASE);
    }
    if (r->young_count == r->young_capacity) {
        // Grow (64 Ki slot numbers to start, at most 4 Mi). A sweep job may
        // hold the old array (it takes the array at mark end): freed now only
        // if no sweep window is open, else once it has closed.
        size_t bigger = r->young_capacity ? r->young_capacity * 2 : 65536;
        size_t *grown = bigger <= (4u << 20) ? malloc(bigger * sizeof(size_t)) : NULL;
        if (grown == NULL) {
            __atomic_store_n(&r->young_overflow, 1, __ATOMIC_RELEASE);
            return;
        }
        if (r->young_count) memcpy(grown, r->young, r->young_count * sizeof(size_t));
        size_t *old = r->young;
        __atomic_store_n(&r->young, grown, __ATOMIC_SEQ_CST);
        __atomic_store_n(&r->young_capacity, bigger, __ATOMIC_RELEASE);
        unsigned seq = __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_SEQ_CST);
        if (old != NULL && (seq & 1)) {
            old[0] = (size_t)r->young_retired;
            r->young_retired = old;
            r->young_retired_seq = seq;
        } else {
            free(old);
        }
    }
    r->young[r->young_count] = slot;
    __atomic_store_n(&r->young_count, r->young_count + 1, __ATOMIC_RELEASE);
}

// MARK: Sharing the sweep between threads
//
// The work is cut into jobs: SWEEP_CHUNK slots of a large region, a run of
// small regions, or a share of a large young log. The collecting thread and a
// few helper threads take them in turn. The helpers are threads libgc does
// not know, so a collection does not stop them; they only ever read mark bits
// and exchange slot words of the jobs they take, between the collector's
// signal and their report that the jobs are done. A small sweep runs on the
// collecting thread alone (waking helpers costs more than it saves).

#define SWEEP_CHUNK 32768
#define MAX_JOBS 4096
#define MAX_HELPERS 7
#define PARALLEL_THRESHOLD (4 * SWEEP_CHUNK)

enum { JOB_RANGE, JOB_YOUNG, JOB_REGIONS };

struct sweep_job {
    int kind;
    // RANGE and YOUNG: the region; REGIONS: the first of `end` regions in
    // the list (none is linked or unlinked while the lock is held).
    cgc_weak_region *region;
    // RANGE: the storage (1 while a move fills it: its entries are copies of
    // storage 0's, marked but not counted).
    int copy;
    // YOUNG: the log as it was at mark end.
    const size_t *log;
    size_t start;
    size_t end;
};

// Listed at mark end and run just after the world restarts, by the collecting
// thread (which holds the allocation lock throughout) and the helpers (which
// read them after the round's signal).
static struct sweep_job jobs[MAX_JOBS];
static size_t job_count;
static size_t job_slots;
// Whether jobs were listed at the last mark end (the window is open).
static int pending;
// The benchmark's switch back to the sweep inside the stopped world.
static int sweep_in_pause;
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

static size_t sweep_whole(cgc_weak_region *r, int copy) {
    if (r->storage[copy] == NULL) return 0;
    return sweep_range(r->storage[copy], 0, r->capacity[copy], r->flags);
}

static void count_dead(cgc_weak_region *r, size_t dead, uint64_t start) {
    if (dead) {
        __atomic_fetch_add(&r->dead, dead, __ATOMIC_RELEASE);
        __atomic_fetch_add(&r->dead_total, dead, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&r->sweep_ns, now_ns() - start, __ATOMIC_RELAXED);
}

static void run_job(const struct sweep_job *job) {
    cgc_weak_region *r = job->region;
    switch (job->kind) {
    case JOB_RANGE: {
        uint64_t start = now_ns();
        size_t dead = sweep_range(r->storage[job->copy], job->start, job->end, r->flags);
        count_dead(r, job->copy ? 0 : dead, start);
        break;
    }
    case JOB_YOUNG: {
        uint64_t start = now_ns();
        count_dead(r, sweep_young(r, job->log, job->start, job->end), start);
        break;
    }
    default:
        for (size_t n = 0; n < job->end; n++, r = r->next) {
            uint64_t start = now_ns();
            size_t dead;
            if (r->sweep_log != NULL) {
                dead = sweep_young(r, r->sweep_log, 0, r->sweep_log_count);
            } else {
                sweep_whole(r, 1);
                dead = sweep_whole(r, 0);
            }
            count_dead(r, dead, start);
        }
        break;
    }
}

static void run_jobs(void) {
    for (;;) {
        size_t n = __atomic_fetch_add(&next_job, 1, __ATOMIC_ACQ_REL);
        if (n >= job_count) return;
        run_job(&jobs[n]);
    }
}

static void helper_main(void *unused) {
    (void)unused;
    // Signals go elsewhere, but for the faults of its own writes (in
    // generational mode libgc write-protects the heap, and its SIGSEGV
    // handler unprotects a page a sweep writes DEAD into: a blocked
    // synchronous fault kills the process) and the signal the Swift
    // runtime's crash handler suspends it with, so a crash's backtrace shows
    // it too.
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGPROF);  // never blocked (cgc_start_thread)
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
            if (cgc_start_thread("gc-weak-sweep", helper_main, NULL) != 0) break;
            started++;
        }
        __atomic_store_n(&helper_count, started, __ATOMIC_RELEASE);
        __atomic_store_n(&helpers_generation, generation, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&helpers_lock);
}

// Lists a job for the window. When the table is full (thousands of large
// regions), the job runs here, with the world stopped, as every sweep did
// before the window.
static void add_job(struct sweep_job job, size_t slots) {
    if (job_count == MAX_JOBS) {
        run_job(&job);
        return;
    }
    jobs[job_count++] = job;
    job_slots += slots;
}

// The run of small regions being gathered into one job.
static cgc_weak_region *run_first;
static cgc_weak_region *run_last;
static size_t run_count;
static size_t run_slots;

static void end_run(void) {
    if (run_count) add_job((struct sweep_job){JOB_REGIONS, run_first, 0, NULL, 0, run_count}, run_slots);
    run_first = run_last = NULL;
    run_count = run_slots = 0;
}

// Adds a small region's sweep (`slots` of work) to the current run. A run
// holds consecutive regions of the list only.
static void add_to_run(cgc_weak_region *r, size_t slots, size_t chunk) {
    if (run_count && run_last->next != r) end_run();
    if (run_count == 0) run_first = r;
    run_last = r;
    run_count++;
    run_slots += slots;
    if (run_slots >= chunk) end_run();
}

// Cuts `count` units of work on region r (slots of storage `copy`, or
// entries of the log) into jobs of `chunk`.
static void add_chunks(int kind, cgc_weak_region *r, int copy, const size_t *log, size_t count, size_t chunk) {
    for (size_t start = 0; start < count; start += chunk) {
        size_t end = start + chunk < count ? start + chunk : count;
        add_job((struct sweep_job){kind, r, copy, log, start, end}, end - start);
    }
}

void cgc_weak_sweep_prepare(int full) {
    uint64_t start = now_ns();
    job_count = 0;
    job_slots = 0;
    size_t total = 0;
    for (cgc_weak_region *r = regions; r != NULL; r = r->next) total += r->capacity[0] + r->capacity[1];
    // More slots than jobs: bigger jobs.
    size_t chunk = SWEEP_CHUNK;
    while (total / chunk >= MAX_JOBS / 2) chunk *= 2;
    run_first = run_last = NULL;
    run_count = run_slots = 0;
    for (cgc_weak_region *r = regions; r != NULL; r = r->next) {
        r->sweep_log = NULL;
        r->sweep_log_count = 0;
        if (!full && young_log_usable(r)) {
            size_t count = __atomic_load_n(&r->young_count, __ATOMIC_ACQUIRE);
            if (count == 0) continue;
            const size_t *log = __atomic_load_n(&r->young, __ATOMIC_SEQ_CST);
            if (count >= chunk) {
                end_run();
                add_chunks(JOB_YOUNG, r, 0, log, count, chunk);
            } else {
                r->sweep_log = log;
                r->sweep_log_count = count;
                add_to_run(r, count, chunk);
            }
            continue;
        }
        size_t slots = r->capacity[0] + r->capacity[1];
        if (slots == 0) {
            continue;
        } else if (slots < SWEEP_CHUNK) {
            add_to_run(r, slots, chunk);
        } else {
            end_run();
            // Storage 1, during a move, holds copies of entries of storage 0:
            // mark both, count storage 0 only.
            if (r->storage[1] != NULL) add_chunks(JOB_RANGE, r, 1, NULL, r->capacity[1], chunk);
            if (r->storage[0] != NULL) add_chunks(JOB_RANGE, r, 0, NULL, r->capacity[0], chunk);
        }
    }
    end_run();
    if (job_count) {
        // Open the window: from here to the end of cgc_weak_sweep_run, every
        // reader of a weak field checks the mark bit of what it reads.
        pending = 1;
        __atomic_fetch_add(&cgc_weak_sweep_seq, 1, __ATOMIC_SEQ_CST);
    }
    if (!job_count) __atomic_store_n(&sweep_last_ns, 0, __ATOMIC_RELAXED);
    // The old place, for the benchmark's comparison: all of it here.
    if (job_count && __atomic_load_n(&sweep_in_pause, __ATOMIC_RELAXED)) cgc_weak_sweep_run();
    __atomic_store_n(&sweep_stopped_last_ns, now_ns() - start, __ATOMIC_RELAXED);
}

void cgc_weak_sweep_run(void) {
    if (!pending) return;
    pending = 0;
    uint64_t start = now_ns();
    int helpers = __atomic_load_n(&helper_count, __ATOMIC_ACQUIRE);
    int usable = helpers > 0 && __atomic_load_n(&helpers_generation, __ATOMIC_ACQUIRE)
                                    == cgc_current_fork_generation();
    __atomic_store_n(&next_job, 0, __ATOMIC_RELEASE);
    if (job_slots < PARALLEL_THRESHOLD || !usable) {
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
    // Close the window: every slot the collection found dead shows DEAD.
    __atomic_fetch_add(&cgc_weak_sweep_seq, 1, __ATOMIC_SEQ_CST);
    futex((int *)&cgc_weak_sweep_seq, FUTEX_WAKE_PRIVATE, 0x7fffffff);
    __atomic_store_n(&sweep_last_ns, now_ns() - start, __ATOMIC_RELAXED);
}

void cgc_weak_sweep_set_in_pause(int in_pause) { __atomic_store_n(&sweep_in_pause, in_pause != 0, __ATOMIC_RELAXED); }

int cgc_weak_sweep_in_pause(void) { return __atomic_load_n(&sweep_in_pause, __ATOMIC_RELAXED); }

uint64_t cgc_weak_sweep_last_duration_ns(void) { return __atomic_load_n(&sweep_last_ns, __ATOMIC_RELAXED); }

uint64_t cgc_weak_sweep_stopped_last_duration_ns(void) {
    return __atomic_load_n(&sweep_stopped_last_ns, __ATOMIC_RELAXED);
}

void cgc_weak_sweep_wait(void) {
    for (;;) {
        unsigned seq = __atomic_load_n(&cgc_weak_sweep_seq, __ATOMIC_ACQUIRE);
        if (!(seq & 1)) return;
        futex((int *)&cgc_weak_sweep_seq, FUTEX_WAIT_PRIVATE, (int)seq);
    }
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
    // Unlinked under the allocation lock, so no sweep window is open on it.
    GC_call_with_alloc_lock(unlink_region, region);
    free_retired_logs(region, 1);
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
