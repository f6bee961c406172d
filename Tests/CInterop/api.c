// Checks of the C API, one mechanism each, through bgc.h only.
#include "support.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// MARK: Memory

void cinterop_check_memory(cinterop_report *r) {
    long *scanned = bgc_malloc(64);
    CHECK(r, scanned != NULL, "bgc_malloc(64) returned %p", (void *)scanned);
    int zeroed = 1;
    for (int i = 0; i < 8; i++) zeroed &= scanned[i] == 0;
    CHECK(r, zeroed, "bgc_malloc's object is zeroed");

    char *text = bgc_malloc_pointerless(100);
    CHECK(r, text != NULL, "bgc_malloc_pointerless(100) returned %p", (void *)text);
    memset(text, 'x', 100);

    // realloc keeps the bytes and the kind; growth of scanned memory is zeroed.
    scanned[0] = 42;
    long *grown = bgc_realloc(scanned, 4096);
    int grown_zero = grown != NULL && grown[0] == 42;
    for (int i = 8; grown != NULL && i < 512; i++) grown_zero &= grown[i] == 0;
    CHECK(r, grown_zero, "bgc_realloc to 4096 keeps word 0 (%ld) and zeroes the rest",
          grown != NULL ? grown[0] : -1L);

    errno = 0;
    char local[16];
    void *refused = bgc_realloc(local, 32);
    CHECK(r, refused == NULL && errno == EINVAL, "bgc_realloc of a stack address: %p, errno %d (EINVAL %d)",
          refused, errno, EINVAL);
    CHECK(r, bgc_free(local) == BGC_EINVAL, "bgc_free of a stack address is BGC_EINVAL");
    CHECK(r, bgc_free(grown + 1) == BGC_EINVAL, "bgc_free of an interior pointer is BGC_EINVAL");
    CHECK(r, bgc_free(NULL) == BGC_SUCCESS, "bgc_free(NULL) is BGC_SUCCESS");
    CHECK(r, bgc_free(grown) == BGC_SUCCESS, "bgc_free of an object is BGC_SUCCESS");
    CHECK(r, bgc_realloc(text, 0) == NULL, "bgc_realloc(object, 0) frees and returns NULL");

    void **table = bgc_malloc_uncollectable(16 * sizeof(void *));
    CHECK(r, table != NULL, "bgc_malloc_uncollectable returned %p", (void *)table);
    CHECK(r, bgc_free(table) == BGC_SUCCESS, "an uncollectable block is freed by bgc_free");
}

// MARK: The heap limit (in a process of its own: the limit is process-wide)

void cinterop_check_heap_limit(cinterop_report *r) {
    bgc_init();
    // The heap limit makes allocation return NULL with ENOMEM, never abort.
    CHECK(r, bgc_set_maximum_heap_size((size_t)1 << 50) == BGC_EINVAL, "a limit above 2^47 is BGC_EINVAL");
    size_t heap = GC_get_heap_size();
    CHECK(r, bgc_set_maximum_heap_size(heap + (8u << 20)) == BGC_SUCCESS, "a limit 8 MiB above the heap (%zu)", heap);
    errno = 0;
    void *huge = bgc_malloc_pointerless((size_t)64 << 20);
    int huge_errno = errno;
    CHECK(r, huge == NULL && huge_errno == ENOMEM, "64 MiB past the limit: %p, errno %d (ENOMEM %d)", huge,
          huge_errno, ENOMEM);
    void *small = bgc_malloc(32);
    CHECK(r, small != NULL, "a small object still fits under the limit");
    // Fill to the limit, drop everything, allocate again: the refused
    // allocation collects once and finds the dropped blocks.
    enum { BLOCKS = 64 };
    void **held = bgc_malloc_uncollectable(BLOCKS * sizeof(void *));
    int filled = 0;
    while (filled < BLOCKS && (held[filled] = bgc_malloc_pointerless(256u << 10)) != NULL) filled++;
    memset(held, 0, BLOCKS * sizeof(void *));
    cinterop_scrub_stack();
    // The retry's ration: at most one collection per 20 pauses, 10 ms at
    // least (the 64 MiB refusal above just took one): a refused
    // allocation waits for the ration and tries again, up to 2 s.
    int again = 0;
    for (int i = 0; i < filled; i++) {
        for (int wait = 0; wait < 40 && (held[i] = bgc_malloc_pointerless(256u << 10)) == NULL; wait++)
            usleep(50000);
        again += held[i] != NULL;
    }
    CHECK(r, filled > 4 && again == filled,
          "%d blocks of 256 KiB filled the limit; dropped, then %d allocated again", filled, again);
    bgc_free(held);
    CHECK(r, bgc_set_maximum_heap_size(0) == BGC_SUCCESS, "the limit is removed");
}

// MARK: Roots

// Makes an object with a weak reference to it, in a frame of its own so its
// address is left on no stack the caller scans.
__attribute__((noinline)) static bgc_weak_ref *make_unreachable(size_t size, bgc_root **root) {
    void *object = bgc_malloc(size);
    bgc_weak_ref *ref = bgc_weak_ref_create(object, BGC_WEAK_SHORT);
    if (root != NULL) *root = bgc_root_create(object);
    return ref;
}

static int count_cleared(bgc_weak_ref **refs, int count) {
    int cleared = 0;
    for (int i = 0; i < count; i++) cleared += bgc_weak_ref_get(refs[i]) == NULL;
    return cleared;
}

// Fills table[0..<count] with new objects, removes [start, end) from the
// roots once, collects, and sets alive[i] to whether table[i]'s object is
// still there.
__attribute__((noinline)) static void collect_removing(void **table, int count, void **start, void **end,
                                                       int *alive) {
    bgc_weak_ref *refs[count];
    for (int i = 0; i < count; i++) {
        refs[i] = make_unreachable(32, NULL);
        table[i] = bgc_weak_ref_get(refs[i]);
    }
    bgc_remove_roots(start, end);
    cinterop_scrub_stack();
    bgc_collect();
    for (int i = 0; i < count; i++) {
        alive[i] = bgc_weak_ref_get(refs[i]) != NULL;
        bgc_weak_ref_destroy(refs[i]);
        table[i] = NULL;
    }
}

static int sum(const int *values, int from, int to) {
    int total = 0;
    for (int i = from; i < to; i++) total += values[i];
    return total;
}

void cinterop_check_roots(cinterop_report *r) {
    enum { N = 200 };
    bgc_weak_ref *rooted[N], *dropped[N];
    bgc_root *roots[N];
    for (int i = 0; i < N; i++) {
        rooted[i] = make_unreachable(48, &roots[i]);
        dropped[i] = make_unreachable(48, NULL);
    }
    // Root addresses stored where the collector does not look (malloc).
    bgc_root **hidden = malloc(N * sizeof *hidden);
    memcpy(hidden, roots, sizeof roots);
    memset(roots, 0, sizeof roots);
    cinterop_scrub_stack();
    bgc_collect();
    int kept = N - count_cleared(rooted, N);
    int gone = count_cleared(dropped, N);
    CHECK(r, kept == N, "%d of %d objects held only by roots in malloc'd memory survive a collection", kept, N);
    CHECK(r, gone >= N - 8, "%d of %d objects held by nothing are collected (a few stale stack words allowed)",
          gone, N);
    int same = 1;
    for (int i = 0; i < N; i++) same &= bgc_root_get(hidden[i]) == bgc_weak_ref_get(rooted[i]);
    CHECK(r, same, "bgc_root_get gives the object the weak reference sees");
    for (int i = 0; i < N; i++) bgc_root_destroy(hidden[i]);
    cinterop_scrub_stack();
    bgc_collect();
    int released = count_cleared(rooted, N);
    CHECK(r, released >= N - 8, "%d of %d objects are collected once their roots are destroyed", released, N);
    for (int i = 0; i < N; i++) {
        bgc_weak_ref_destroy(rooted[i]);
        bgc_weak_ref_destroy(dropped[i]);
    }
    free(hidden);

    // A malloc'd table of GC pointers, registered as a root range.
    void **table = calloc(N, sizeof(void *));
    CHECK(r, bgc_add_roots(table, table + N) == BGC_SUCCESS, "bgc_add_roots of a malloc'd table");
    bgc_weak_ref *in_table[N];
    for (int i = 0; i < N; i++) {
        in_table[i] = make_unreachable(32, NULL);
        table[i] = bgc_weak_ref_get(in_table[i]);
    }
    cinterop_scrub_stack();
    bgc_collect();
    kept = N - count_cleared(in_table, N);
    CHECK(r, kept == N, "%d of %d objects held by a registered range survive", kept, N);
    CHECK(r, bgc_remove_roots(table, table + 1) == BGC_ENOENT, "removing a range never added is BGC_ENOENT");
    CHECK(r, bgc_remove_roots(table, table + N) == BGC_SUCCESS, "bgc_remove_roots of the range added");
    CHECK(r, bgc_add_roots(table + 1, table) == BGC_EINVAL, "a range whose start is past its end is BGC_EINVAL");
    memset(table, 0, N * sizeof(void *));
    for (int i = 0; i < N; i++) bgc_weak_ref_destroy(in_table[i]);

    // Each add counts: a range added twice is a root until removed twice,
    // and a word stays a root while an overlapping range still covers it
    // (libgc alone merges ranges that share a start, and one removal drops
    // both).
    int alive[N];
    bgc_add_roots(table, table + N);
    bgc_add_roots(table, table + N);
    collect_removing(table, N, table, table + N, alive);
    kept = sum(alive, 0, N);
    CHECK(r, kept == N, "a range added twice, removed once: %d of %d objects survive", kept, N);
    collect_removing(table, N, table, table + N, alive);
    kept = sum(alive, 0, N);
    CHECK(r, kept <= 8, "removed twice: %d of %d objects survive (a few stale stack words allowed)", kept, N);
    bgc_add_roots(table, table + N / 2);
    bgc_add_roots(table, table + N);
    collect_removing(table, N, table, table + N, alive);
    kept = sum(alive, 0, N / 2);
    CHECK(r, kept == N / 2, "a range inside another, same start, the outer removed: %d of its %d survive", kept,
          N / 2);
    kept = sum(alive, N / 2, N);
    CHECK(r, kept <= 8, "the outer range removed: %d of the %d outside the inner survive", kept, N / 2);
    CHECK(r, bgc_remove_roots(table, table + N / 2) == BGC_SUCCESS, "the inner range removed");
    bgc_add_roots(table, table + N / 2);
    bgc_add_roots(table + N / 4, table + N);
    collect_removing(table, N, table, table + N / 2, alive);
    kept = sum(alive, N / 4, N);
    CHECK(r, kept == 3 * N / 4, "two overlapping ranges, the first removed: %d of the second's %d survive", kept,
          3 * N / 4);
    kept = sum(alive, 0, N / 4);
    CHECK(r, kept <= 8, "the first range removed: %d of the %d only it covered survive", kept, N / 4);
    CHECK(r, bgc_remove_roots(table + N / 4, table + N) == BGC_SUCCESS, "the second range removed");
    memset(table, 0, N * sizeof(void *));

    // The bound on ranges: the 1,025th is refused, not an abort in libgc.
    static char cells[1100][16];
    int added = 0;
    while (added < 1100 && bgc_add_roots(cells[added], cells[added] + 16) == BGC_SUCCESS) added++;
    CHECK(r, added == 1024, "%d ranges accepted before BGC_ENOMEM, 1,024 expected", added);
    for (int i = 0; i < added; i++) bgc_remove_roots(cells[i], cells[i] + 16);
    free(table);
}

// MARK: Weak references

void cinterop_check_weak_refs(cinterop_report *r) {
    int x = 0;
    errno = 0;
    CHECK(r, bgc_weak_ref_create(&x, BGC_WEAK_SHORT) == NULL && errno == EINVAL,
          "a weak reference to a stack address is refused with EINVAL");
    void *object = bgc_malloc(16);
    errno = 0;
    CHECK(r, bgc_weak_ref_create(object, 7) == NULL && errno == EINVAL, "an unknown strength is refused with EINVAL");
    bgc_weak_ref *held = bgc_weak_ref_create(object, BGC_WEAK_LONG);
    bgc_collect();
    CHECK(r, bgc_weak_ref_get(held) == object, "a long weak reference to a live object reads it back");
    bgc_weak_ref_destroy(held);
    cinterop_keep(object);
}

// MARK: Finalizers and hooks

static int finalized_count;
static void count_finalized(void *object, void *data) {
    (void)object;
    __atomic_fetch_add((int *)data, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static void drop_finalizable(int count, int *counter) {
    for (int i = 0; i < count; i++) {
        void *object = bgc_malloc(32);
        bgc_set_finalizer(object, count_finalized, counter);
    }
}

static uint64_t hook_runs;
static uint64_t hook_last;
static void count_hook(uint64_t collection, void *data) {
    (void)data;
    __atomic_fetch_add(&hook_runs, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&hook_last, collection, __ATOMIC_RELAXED);
}

// Runs 50 ms: [0] set when it starts, [1] when it ends.
static void slow_hook(uint64_t collection, void *data) {
    (void)collection;
    int *progress = data;
    if (__atomic_exchange_n(&progress[0], 1, __ATOMIC_ACQ_REL) != 0) return;
    usleep(50000);
    __atomic_store_n(&progress[1], 1, __ATOMIC_RELEASE);
}

void cinterop_check_finalizers_and_hooks(cinterop_report *r) {
    void *object = bgc_malloc(32);
    CHECK(r, bgc_set_finalizer(object, count_finalized, &finalized_count) == BGC_SUCCESS, "bgc_set_finalizer");
    CHECK(r, bgc_set_finalizer(object, count_finalized, &finalized_count) == BGC_EEXIST,
          "a second finalizer is BGC_EEXIST");
    CHECK(r, bgc_remove_finalizer(object) == BGC_SUCCESS, "bgc_remove_finalizer");
    CHECK(r, bgc_remove_finalizer(object) == BGC_ENOENT, "removing it again is BGC_ENOENT");
    CHECK(r, bgc_set_finalizer(object, NULL, NULL) == BGC_EINVAL, "a NULL finalizer is BGC_EINVAL");
    int local = 0;
    CHECK(r, bgc_set_finalizer(&local, count_finalized, &finalized_count) == BGC_EINVAL,
          "a finalizer on a stack address is BGC_EINVAL");
    cinterop_keep(object);

    int counter = 0;
    drop_finalizable(500, &counter);
    cinterop_scrub_stack();
    for (int round = 0; round < 3; round++) {
        bgc_collect();
        bgc_run_finalizers();
    }
    int ran = __atomic_load_n(&counter, __ATOMIC_RELAXED);
    CHECK(r, ran >= 490 && ran <= 500, "%d of 500 dropped objects finalized (a few stale stack words allowed)",
          ran);

    errno = 0;
    CHECK(r, bgc_post_gc_hook_add(NULL, NULL) == NULL && errno == EINVAL, "a NULL hook is refused with EINVAL");
    bgc_post_gc_hook *hook = bgc_post_gc_hook_add(count_hook, NULL);
    CHECK(r, hook != NULL, "bgc_post_gc_hook_add");
    uint64_t before = bgc_collection_count();
    for (int i = 0; i < 20; i++) bgc_collect();
    bgc_run_finalizers();
    uint64_t runs = __atomic_load_n(&hook_runs, __ATOMIC_RELAXED);
    uint64_t last = __atomic_load_n(&hook_last, __ATOMIC_RELAXED);
    // Other tests of the process collect too: at least these 20.
    CHECK(r, runs >= 20 && last >= before + 20, "the hook ran %llu times after 20 collections, last for %llu (>= %llu)",
          (unsigned long long)runs, (unsigned long long)last, (unsigned long long)(before + 20));
    bgc_post_gc_hook_remove(hook);
    uint64_t stopped = __atomic_load_n(&hook_runs, __ATOMIC_RELAXED);
    bgc_collect();
    bgc_run_finalizers();
    CHECK(r, __atomic_load_n(&hook_runs, __ATOMIC_RELAXED) == stopped, "a removed hook runs no more");

    // Removing a hook waits for its run in progress: its data may be freed
    // once the call returns.
    int *progress = calloc(2, sizeof(int));
    bgc_post_gc_hook *slow = bgc_post_gc_hook_add(slow_hook, progress);
    bgc_collect();
    while (__atomic_load_n(&progress[0], __ATOMIC_ACQUIRE) == 0) usleep(1000);
    bgc_post_gc_hook_remove(slow);
    int finished = __atomic_load_n(&progress[1], __ATOMIC_ACQUIRE);
    CHECK(r, finished == 1, "bgc_post_gc_hook_remove returned after the run in progress ended (%d)", finished);
    free(progress);
    CHECK(r, bgc_root_get(NULL) == NULL && bgc_weak_ref_get(NULL) == NULL, "NULL roots and references read NULL");
    bgc_root_set(NULL, NULL);
    bgc_post_gc_hook_remove(NULL);
}

// MARK: Foreign memory

void cinterop_check_foreign_memory(cinterop_report *r) {
    bgc_foreign_statistics before, after;
    CHECK(r, bgc_get_foreign_statistics(NULL) == BGC_EINVAL, "bgc_get_foreign_statistics(NULL) is BGC_EINVAL");
    bgc_get_foreign_statistics(&before);
    uint64_t window = 0;
    CHECK(r, bgc_register_allocation(1000, &window) == BGC_SUCCESS, "bgc_register_allocation(1000)");
    CHECK(r, bgc_register_allocation(SIZE_MAX, NULL) == BGC_EOVERFLOW, "SIZE_MAX bytes is BGC_EOVERFLOW");
    CHECK(r, bgc_unregister_allocation(1000, window) == BGC_SUCCESS, "bgc_unregister_allocation in its window");
    bgc_get_foreign_statistics(&after);
    // Other tests of the process report too; these calls change nothing
    // overall, and more is never removed than is live.
    CHECK(r, bgc_unregister_allocation(after.live_bytes + 1, BGC_NO_WINDOW) == BGC_EINVAL,
          "removing more than is live (%zu) is BGC_EINVAL", after.live_bytes);
    CHECK(r, after.byte_budget >= (8u << 20), "the byte budget (%zu) is at least the 8 MiB floor", after.byte_budget);

    // The counting family: each live block is in the account.
    char *blocks[64];
    for (int i = 0; i < 64; i++) blocks[i] = bgc_counted_malloc(10000);
    bgc_foreign_statistics live;
    bgc_get_foreign_statistics(&live);
    CHECK(r, live.live_bytes >= 640000, "64 counted blocks of 10,000 bytes: %zu live foreign bytes", live.live_bytes);
    blocks[0] = bgc_counted_realloc(blocks[0], 20000);
    memset(blocks[0], 1, 20000);
    for (int i = 0; i < 64; i++) bgc_counted_free(blocks[i]);
    char *zeroed = bgc_counted_calloc(100, 10);
    int all_zero = zeroed != NULL;
    for (int i = 0; zeroed != NULL && i < 1000; i++) all_zero &= zeroed[i] == 0;
    CHECK(r, all_zero, "bgc_counted_calloc zeroes");
    bgc_counted_free(zeroed);
    errno = 0;
    CHECK(r, bgc_counted_calloc(SIZE_MAX / 2, 4) == NULL && errno == ENOMEM,
          "an overflowing bgc_counted_calloc is NULL with ENOMEM");
    char *copy = bgc_counted_strdup("forty-two");
    CHECK(r, copy != NULL && strcmp(copy, "forty-two") == 0, "bgc_counted_strdup copies");
    errno = 0;
    CHECK(r, bgc_counted_strdup(NULL) == NULL && errno == EINVAL, "bgc_counted_strdup(NULL) is NULL with EINVAL");
    bgc_counted_free(copy);
    CHECK(r, bgc_counted_realloc(bgc_counted_malloc(8), 0) == NULL, "bgc_counted_realloc(block, 0) frees");
}

// MARK: Threads

static void *registered_inside(void *data) {
    (void)data;
    return (void *)(intptr_t)bgc_thread_is_registered();
}

static void *scoped_thread(void *out) {
    int *result = out;
    result[0] = bgc_thread_is_registered();
    result[1] = (int)(intptr_t)bgc_with_gc(registered_inside, NULL);
    result[2] = bgc_thread_is_registered();
    return NULL;
}

static void *wrapper_thread(void *arg) {
    // Registered before this runs, and arg is alive.
    long *cell = arg;
    return (void *)(intptr_t)(bgc_thread_is_registered() && cell[0] == 7);
}

static int unregister_status = 1;
static void unregister_in_finalizer(void *object, void *data) {
    (void)object;
    (void)data;
    __atomic_store_n(&unregister_status, bgc_unregister_thread(), __ATOMIC_RELEASE);
}

__attribute__((noinline)) static void drop_unregistering(void) {
    bgc_set_finalizer(bgc_malloc(16), unregister_in_finalizer, NULL);
}

void cinterop_check_threads(cinterop_report *r) {
    CHECK(r, bgc_register_thread() == BGC_SUCCESS && bgc_thread_is_registered(), "the checking thread registers");
    int scoped[3] = {-1, -1, -1};
    pthread_t thread;
    pthread_create(&thread, NULL, scoped_thread, scoped);
    pthread_join(thread, NULL);
    CHECK(r, scoped[0] == 0 && scoped[1] == 1 && scoped[2] == 0,
          "bgc_with_gc registers a new thread for the call only: before %d, inside %d, after %d", scoped[0],
          scoped[1], scoped[2]);

    long *cell = bgc_malloc(sizeof(long));
    cell[0] = 7;
    void *result = NULL;
    CHECK(r, bgc_pthread_create(&thread, NULL, wrapper_thread, cell) == 0, "bgc_pthread_create");
    pthread_join(thread, &result);
    CHECK(r, result == (void *)1, "the thread was registered and saw its argument");
    CHECK(r, bgc_pthread_create(&thread, NULL, NULL, NULL) == EINVAL, "bgc_pthread_create without fn is EINVAL");
    errno = 0;
    CHECK(r, bgc_with_gc(NULL, NULL) == NULL && errno == EINVAL, "bgc_with_gc without fn is NULL with EINVAL");

    drop_unregistering();
    cinterop_scrub_stack();
    for (int round = 0; round < 3 && __atomic_load_n(&unregister_status, __ATOMIC_ACQUIRE) == 1; round++) {
        bgc_collect();
        bgc_run_finalizers();
    }
    CHECK(r, __atomic_load_n(&unregister_status, __ATOMIC_ACQUIRE) == BGC_EPERM,
          "bgc_unregister_thread from a finalizer is BGC_EPERM (got %d)", unregister_status);
    CHECK(r, strcmp(bgc_strerror(BGC_EEXIST), "the object already has a finalizer (libgc keeps one per object)") == 0,
          "bgc_strerror names BGC_EEXIST");
    CHECK(r, strcmp(bgc_strerror(12345), "unknown status") == 0, "bgc_strerror of an unknown code");
}

// MARK: Configuration

void cinterop_check_configuration_after_start(cinterop_report *r) {
    bgc_init();
    CHECK(r, bgc_is_started(), "bgc_is_started after bgc_init");
    bgc_configuration configuration = BGC_CONFIGURATION_DEFAULT;
    configuration.maximum_heap_size = 64u << 20;
    CHECK(r, bgc_configure(&configuration) == BGC_EALREADY, "bgc_configure after the start is BGC_EALREADY");
    CHECK(r, bgc_configure(NULL) == BGC_EINVAL, "bgc_configure(NULL) is BGC_EINVAL");
    configuration.finalizers = 9;
    CHECK(r, bgc_configure(&configuration) == BGC_EINVAL, "an unknown finalizer mode is BGC_EINVAL");
}

void cinterop_check_reads_before_start(cinterop_report *r) {
    CHECK(r, !bgc_is_started(), "the library has not started yet");
    CHECK(r, bgc_collection_count() == 0, "bgc_collection_count is 0 before anything started libgc");
    bgc_foreign_statistics statistics;
    CHECK(r, bgc_get_foreign_statistics(&statistics) == BGC_SUCCESS && statistics.live_bytes == 0,
          "bgc_get_foreign_statistics before the start");
    CHECK(r, !bgc_is_started(), "reading the counts did not start the library");
    bgc_configuration configuration = BGC_CONFIGURATION_DEFAULT;
    configuration.maximum_heap_size = 64u << 20;
    CHECK(r, bgc_configure(&configuration) == BGC_SUCCESS, "bgc_configure after the reads is accepted");
    bgc_init();
    CHECK(r, bgc_is_started(), "bgc_init starts the library");
    bgc_collect();
    CHECK(r, bgc_collection_count() >= 1, "bgc_collection_count counts after the start");
}
