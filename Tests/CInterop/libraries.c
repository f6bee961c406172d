// C libraries given the library's allocator hooks: zlib (counting hooks)
// and GMP (counting and collected hooks).
#include "support.h"

#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

// MARK: zlib

// A compressor object on the GC heap; its z_stream's state is malloc'd by
// zlib through the hooks and freed by deflateEnd.
typedef struct compressor {
    z_stream stream;
} compressor;

static int streams_ended;

static void end_stream(void *object, void *data) {
    (void)data;
    deflateEnd(&((compressor *)object)->stream);
    __atomic_fetch_add(&streams_ended, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static int compress_one(int end_each, int hooks, const unsigned char *input, size_t size,
                                                  unsigned char *output, size_t capacity) {
    compressor *c = bgc_malloc(sizeof *c);
    if (c == NULL) return -1;
    c->stream.zalloc = hooks ? bgc_zlib_alloc : Z_NULL;
    c->stream.zfree = hooks ? bgc_zlib_free : Z_NULL;
    c->stream.opaque = Z_NULL;
    if (deflateInit(&c->stream, 6) != Z_OK) return -1;
    c->stream.next_in = (Bytef *)input;
    c->stream.avail_in = (uInt)size;
    c->stream.next_out = output;
    c->stream.avail_out = (uInt)capacity;
    int status = deflate(&c->stream, Z_FINISH);
    int produced = (int)(capacity - c->stream.avail_out);
    if (end_each) {
        deflateEnd(&c->stream);
        __atomic_fetch_add(&streams_ended, 1, __ATOMIC_RELAXED);
    } else {
        bgc_set_finalizer(c, end_stream, NULL);
    }
    return status == Z_STREAM_END ? produced : -1;
}

int cinterop_zlib(int streams, int end_each, int hooks, cinterop_report *r) {
    unsigned char input[4096], output[8192];
    for (size_t i = 0; i < sizeof input; i++) input[i] = (unsigned char)("the dark matter of a port "[i % 26]);
    int ended_before = __atomic_load_n(&streams_ended, __ATOMIC_RELAXED);
    bgc_foreign_statistics statistics;
    size_t peak_foreign = 0;
    int failed = 0;
    for (int s = 0; s < streams; s++) {
        failed += compress_one(end_each, hooks, input, sizeof input, output, sizeof output) <= 0;
        bgc_get_foreign_statistics(&statistics);
        if (statistics.live_bytes > peak_foreign) peak_foreign = statistics.live_bytes;
    }
    cinterop_scrub_stack();
    for (int round = 0; round < 3; round++) {
        bgc_collect();
        bgc_run_finalizers();
    }
    bgc_get_foreign_statistics(&statistics);
    int ended = __atomic_load_n(&streams_ended, __ATOMIC_RELAXED) - ended_before;
    CHECK(r, failed == 0, "%d of %d streams failed to compress", failed, streams);
    CHECK(r, ended >= streams - 8, "%d of %d streams ended (a few stale stack words allowed)", ended, streams);
    if (hooks) {
        // One deflate stream holds about 268 KB, so dropped streams that
        // were never ended would pass the bound within a few hundred. The
        // finalizer thread ends the dead ones after each collection; in a
        // loaded debug build it may fall a window or two behind.
        size_t bound = 4 * statistics.byte_budget + (size_t)16 * 300000;
        CHECK(r, peak_foreign <= bound, "peak live foreign bytes %zu, bound %zu (4 x budget %zu + 16 streams)",
              peak_foreign, bound, statistics.byte_budget);
        CHECK(r, statistics.live_bytes <= (size_t)8 * 300000, "%zu foreign bytes live at the end", statistics.live_bytes);
    }
    printf("zlib: %d streams %s, hooks %s: peak live foreign %zu bytes, live at end %zu, peak RSS %zu bytes\n",
           streams, end_each ? "ended" : "dropped", hooks ? "counting" : "none", peak_foreign,
           statistics.live_bytes, cinterop_peak_resident_bytes());
    return r->failures;
}

// MARK: GMP

// A number on the GC heap (scanned, so its limbs stay alive with it).
typedef struct number {
    mpz_t value;
} number;

static void clear_number(void *object, void *data) {
    (void)data;
    mpz_clear(((number *)object)->value);
}

// 3^k two ways; 0 when they agree.
static int three_to_the(mpz_t into, mpz_t scratch, unsigned k) {
    mpz_set_ui(into, 1);
    for (unsigned i = 0; i < k; i++) mpz_mul_ui(into, into, 3);
    mpz_ui_pow_ui(scratch, 3, k);
    return mpz_cmp(into, scratch) != 0;
}

__attribute__((noinline)) static void drop_numbers(int count, unsigned k, int with_finalizer) {
    for (int i = 0; i < count; i++) {
        number *n = bgc_malloc(sizeof *n);
        mpz_init(n->value);
        mpz_ui_pow_ui(n->value, 7, k + (unsigned)i);
        if (with_finalizer) bgc_set_finalizer(n, clear_number, NULL);
    }
}

int cinterop_gmp_counted(int rounds, cinterop_report *r) {
    mp_set_memory_functions(bgc_gmp_counted_alloc, bgc_gmp_counted_realloc, bgc_gmp_counted_free);
    // The second user: numbers in malloc'd memory, which the collector
    // never sees, kept across the rounds.
    enum { THEIRS = 16 };
    mpz_t *theirs = malloc(THEIRS * sizeof *theirs);
    mpz_t scratch;
    mpz_init(scratch);
    for (int i = 0; i < THEIRS; i++) mpz_init(theirs[i]);
    int wrong = 0;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < THEIRS; i++) wrong += three_to_the(theirs[i], scratch, 200 + (unsigned)(round + i) % 300);
        drop_numbers(200, 1000, 1);
        if (round % 10 == 9) bgc_collect();
        // Their numbers, computed before the collection, are still right.
        for (int i = 0; i < THEIRS; i++) {
            mpz_ui_pow_ui(scratch, 3, 200 + (unsigned)(round + i) % 300);
            wrong += mpz_cmp(theirs[i], scratch) != 0;
        }
    }
    for (int i = 0; i < THEIRS; i++) mpz_clear(theirs[i]);
    mpz_clear(scratch);
    free(theirs);
    cinterop_scrub_stack();
    for (int round = 0; round < 3; round++) {
        bgc_collect();
        bgc_run_finalizers();
    }
    bgc_foreign_statistics statistics;
    bgc_get_foreign_statistics(&statistics);
    CHECK(r, wrong == 0, "%d wrong results of the malloc-based GMP user in %d checks", wrong, rounds * THEIRS * 2);
    CHECK(r, statistics.live_bytes < (size_t)1 << 20, "%zu foreign bytes live after every number was cleared",
          statistics.live_bytes);
    return wrong;
}

// Makes one number in malloc'd memory and one on the GC heap, each with a
// weak reference to its limbs, in a frame of its own.
__attribute__((noinline)) static void make_pair(mpz_t *in_malloc, number **on_heap, bgc_weak_ref **malloc_limbs,
                                                bgc_weak_ref **heap_limbs) {
    mpz_init(*in_malloc);
    mpz_ui_pow_ui(*in_malloc, 3, 5000);
    *malloc_limbs = bgc_weak_ref_create((*in_malloc)->_mp_d, BGC_WEAK_SHORT);
    number *n = bgc_malloc(sizeof *n);
    mpz_init(n->value);
    mpz_ui_pow_ui(n->value, 3, 5000);
    *heap_limbs = bgc_weak_ref_create(n->value->_mp_d, BGC_WEAK_SHORT);
    *on_heap = n;
}

int cinterop_gmp_collected(int rounds, int *malloc_limbs_collected, cinterop_report *r) {
    mp_set_memory_functions(bgc_gmp_collected_alloc, bgc_gmp_collected_realloc, bgc_gmp_collected_free);
    mpz_t scratch;
    mpz_init(scratch);
    int wrong = 0, collected = 0, heap_lost = 0;
    // Numbers on the GC heap, held by a scanned array on this stack.
    enum { KEPT = 32 };
    number **kept = bgc_malloc(KEPT * sizeof *kept);
    for (int i = 0; i < KEPT; i++) {
        kept[i] = bgc_malloc(sizeof(number));
        mpz_init(kept[i]->value);
    }
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < KEPT; i++) mpz_ui_pow_ui(kept[i]->value, 3, 300 + (unsigned)(round + i) % 200);
        drop_numbers(100, 2000, 0);
        mpz_t *in_malloc = malloc(sizeof *in_malloc);
        number *on_heap = NULL;
        bgc_weak_ref *malloc_limbs = NULL, *heap_limbs = NULL;
        make_pair(in_malloc, &on_heap, &malloc_limbs, &heap_limbs);
        cinterop_scrub_stack();
        bgc_collect();
        collected += bgc_weak_ref_get(malloc_limbs) == NULL;
        heap_lost += bgc_weak_ref_get(heap_limbs) == NULL;
        cinterop_keep(on_heap);
        // The malloc'd number's limbs may be gone: it is dropped, not cleared.
        free(in_malloc);
        bgc_weak_ref_destroy(malloc_limbs);
        bgc_weak_ref_destroy(heap_limbs);
        for (int i = 0; i < KEPT; i++) {
            mpz_ui_pow_ui(scratch, 3, 300 + (unsigned)(round + i) % 200);
            wrong += mpz_cmp(kept[i]->value, scratch) != 0;
        }
    }
    cinterop_keep(kept);
    *malloc_limbs_collected = collected;
    CHECK(r, wrong == 0, "%d wrong results among numbers on the GC heap in %d checks", wrong, rounds * KEPT);
    CHECK(r, heap_lost == 0, "the limbs of a number on the GC heap were collected %d times in %d", heap_lost, rounds);
    CHECK(r, collected >= rounds * 9 / 10,
          "the rule: limbs of a number in malloc'd memory collected under it in %d of %d rounds", collected, rounds);
    return wrong + heap_lost;
}

void cinterop_gmp_out_of_memory(void) {
    bgc_configuration configuration = BGC_CONFIGURATION_DEFAULT;
    configuration.maximum_heap_size = 16u << 20;
    bgc_configure(&configuration);
    mp_set_memory_functions(bgc_gmp_collected_alloc, bgc_gmp_collected_realloc, bgc_gmp_collected_free);
    mpz_t big;
    mpz_init(big);
    // 2^(8 * 32 Mi) takes 32 MiB of limbs: past the limit.
    mpz_setbit(big, (mp_bitcnt_t)8 * (32u << 20));
}
