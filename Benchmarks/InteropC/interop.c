#include "InteropC.h"

#include <bgc.h>
#include <gmp.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

// The two allocation loops are the same but for the call.
double interop_bgc_alloc_ns(size_t n, size_t size) {
    volatile void *sink = NULL;
    double start = now_ns();
    for (size_t i = 0; i < n; i++) {
        void *p = bgc_malloc(size);
        if (p == NULL) return -1;
        sink = p;
    }
    double elapsed = now_ns() - start;
    sink = NULL;
    (void)sink;
    return elapsed / (double)n;
}

double interop_raw_alloc_ns(size_t n, size_t size) {
    volatile void *sink = NULL;
    double start = now_ns();
    for (size_t i = 0; i < n; i++) {
        void *p = GC_malloc(size);
        if (p == NULL) return -1;
        sink = p;
    }
    double elapsed = now_ns() - start;
    sink = NULL;
    (void)sink;
    return elapsed / (double)n;
}

uint64_t interop_collections(void) { return bgc_collection_count(); }

// MARK: zlib

typedef struct compressor {
    z_stream stream;
} compressor;

static void end_stream(void *object, void *data) {
    (void)data;
    deflateEnd(&((compressor *)object)->stream);
}

__attribute__((noinline)) static int compress_one(int mode, const unsigned char *input, size_t size,
                                                  unsigned char *output, size_t capacity) {
    compressor *c = bgc_malloc(sizeof *c);
    if (c == NULL) return 0;
    c->stream.zalloc = mode == 2 ? Z_NULL : bgc_zlib_alloc;
    c->stream.zfree = mode == 2 ? Z_NULL : bgc_zlib_free;
    c->stream.opaque = Z_NULL;
    if (deflateInit(&c->stream, 6) != Z_OK) return 0;
    c->stream.next_in = (Bytef *)input;
    c->stream.avail_in = (uInt)size;
    c->stream.next_out = output;
    c->stream.avail_out = (uInt)capacity;
    int ok = deflate(&c->stream, Z_FINISH) == Z_STREAM_END;
    if (mode == 0)
        deflateEnd(&c->stream);
    else
        bgc_set_finalizer(c, end_stream, NULL);
    return ok;
}

int interop_zlib(int streams, int mode) {
    unsigned char input[4096], output[8192];
    for (size_t i = 0; i < sizeof input; i++) input[i] = (unsigned char)("the dark matter of a port "[i % 26]);
    int failed = 0;
    for (int s = 0; s < streams; s++) failed += !compress_one(mode, input, sizeof input, output, sizeof output);
    return failed;
}

// MARK: GMP

typedef struct number {
    mpz_t value;
} number;

static void clear_number(void *object, void *data) {
    (void)data;
    mpz_clear(((number *)object)->value);
}

// GC-heap hooks as they had to be written with the Swift API alone
// (GC.unsafeAllocate): no realloc in place, no explicit free.
static void *naive_alloc(size_t size) { return bgc_malloc_pointerless(size); }

static void *naive_realloc(void *block, size_t old_size, size_t new_size) {
    void *moved = bgc_malloc_pointerless(new_size);
    memcpy(moved, block, old_size < new_size ? old_size : new_size);
    return moved;
}

static void naive_free(void *block, size_t size) {
    (void)block;
    (void)size;
}

uint64_t interop_gmp(int rounds, int mode) {
    switch (mode) {
    case 0: mp_set_memory_functions(bgc_gmp_collected_alloc, bgc_gmp_collected_realloc, bgc_gmp_collected_free); break;
    case 1: mp_set_memory_functions(naive_alloc, naive_realloc, naive_free); break;
    default: mp_set_memory_functions(bgc_gmp_counted_alloc, bgc_gmp_counted_realloc, bgc_gmp_counted_free); break;
    }
    uint64_t checksum = 0;
    for (int r = 0; r < rounds; r++) {
        number *n = bgc_malloc(sizeof *n);
        mpz_init(n->value);
        // A factorial, one factor at a time: the number grows limb by limb,
        // a realloc each time (the shape of GMP code that accumulates).
        mpz_set_ui(n->value, 1);
        for (unsigned long k = 2; k <= 1000 + (unsigned long)(r % 500); k++) mpz_mul_ui(n->value, n->value, k);
        checksum += mpz_getlimbn(n->value, 0) + mpz_size(n->value);
        if (mode == 2) bgc_set_finalizer(n, clear_number, NULL);
    }
    return checksum;
}
