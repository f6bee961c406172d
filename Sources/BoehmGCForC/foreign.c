// Foreign memory: the account, and allocator hooks for C libraries.
//
// Why C: this is the public C API (bgc.h); the account and its trigger are
// Swift's ForeignMemory, which every report here goes to.
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bgc_register_allocation(size_t bytes, uint64_t *window) {
    if (bytes > PTRDIFF_MAX) return BGC_EOVERFLOW;
    // Reports may come from threads the collector does not know (a
    // library's own worker): the account registers them, as Swift does.
    return cgc_swift_register_allocation((ptrdiff_t)bytes, window);
}

int bgc_unregister_allocation(size_t bytes, uint64_t window) {
    if (bytes > PTRDIFF_MAX) return BGC_EINVAL;
    return cgc_swift_unregister_allocation((ptrdiff_t)bytes, window);
}

int bgc_get_foreign_statistics(bgc_foreign_statistics *statistics) {
    if (statistics == NULL) return BGC_EINVAL;
    ptrdiff_t fields[5];
    cgc_swift_foreign_statistics(fields);
    statistics->live_bytes = (size_t)fields[0];
    statistics->live_objects = (size_t)fields[1];
    statistics->bytes_since_collection = (size_t)fields[2];
    statistics->collections_requested = (uint64_t)fields[3];
    statistics->byte_budget = (size_t)fields[4];
    return BGC_SUCCESS;
}

// MARK: The counting malloc family
//
// Each block starts with a header that records its size and the collection
// window it was reported in, so that freeing it gives back exactly that, in
// that window. 16 bytes keep glibc's 16-byte alignment.

typedef struct counted_header {
    size_t size;
    uint64_t window;
} counted_header;

_Static_assert(sizeof(counted_header) == 16, "the header keeps 16-byte alignment");

static void *counted_finish(counted_header *header, size_t size) {
    if (header == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    header->size = size;
    if (bgc_register_allocation(size, &header->window) != BGC_SUCCESS) {
        free(header);
        errno = ENOMEM;
        return NULL;
    }
    return header + 1;
}

void *bgc_counted_malloc(size_t size) {
    if (size > PTRDIFF_MAX - sizeof(counted_header)) {
        errno = ENOMEM;
        return NULL;
    }
    return counted_finish(malloc(sizeof(counted_header) + size), size);
}

void *bgc_counted_calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total) || total > PTRDIFF_MAX - sizeof(counted_header)) {
        errno = ENOMEM;
        return NULL;
    }
    return counted_finish(calloc(1, sizeof(counted_header) + total), total);
}

void bgc_counted_free(void *block) {
    if (block == NULL) return;
    counted_header *header = (counted_header *)block - 1;
    (void)bgc_unregister_allocation(header->size, header->window);
    free(header);
}

void *bgc_counted_realloc(void *block, size_t size) {
    if (block == NULL) return bgc_counted_malloc(size);
    if (size == 0) {
        bgc_counted_free(block);
        return NULL;
    }
    if (size > PTRDIFF_MAX - sizeof(counted_header)) {
        errno = ENOMEM;
        return NULL;
    }
    counted_header *header = (counted_header *)block - 1;
    size_t old_size = header->size;
    uint64_t old_window = header->window;
    counted_header *moved = realloc(header, sizeof(counted_header) + size);
    if (moved == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    // The old size goes back in its window, the new one in this one.
    (void)bgc_unregister_allocation(old_size, old_window);
    moved->size = size;
    if (bgc_register_allocation(size, &moved->window) != BGC_SUCCESS) moved->window = BGC_NO_WINDOW;
    return moved + 1;
}

char *bgc_counted_strdup(const char *string) {
    if (string == NULL) {
        errno = EINVAL;
        return NULL;
    }
    size_t length = strlen(string) + 1;
    char *copy = bgc_counted_malloc(length);
    if (copy != NULL) memcpy(copy, string, length);
    return copy;
}

// MARK: Adapters to C libraries' hook shapes

void *bgc_zlib_alloc(void *opaque, unsigned items, unsigned size) {
    (void)opaque;
    return bgc_counted_calloc(items, size);
}

void bgc_zlib_free(void *opaque, void *address) {
    (void)opaque;
    bgc_counted_free(address);
}

void *bgc_pcre2_malloc(size_t size, void *data) {
    (void)data;
    return bgc_counted_malloc(size);
}

void bgc_pcre2_free(void *block, void *data) {
    (void)data;
    bgc_counted_free(block);
}

// GMP's memory functions must never return NULL (GMP manual, "Custom
// Allocation": they must abort or longjmp).
__attribute__((noreturn, cold)) static void gmp_out_of_memory(const char *function, size_t size) {
    fprintf(stderr,
            "%s: out of memory allocating %zu bytes for GMP, which cannot take NULL back: GMP's memory "
            "functions must not return NULL, so the process ends here. Raise the heap limit, or give GMP "
            "the counting hooks (bgc.h)\n",
            function, size);
    abort();
}

void *bgc_gmp_counted_alloc(size_t size) {
    void *block = bgc_counted_malloc(size);
    if (block == NULL) gmp_out_of_memory(__func__, size);
    return block;
}

void *bgc_gmp_counted_realloc(void *block, size_t old_size, size_t new_size) {
    (void)old_size;
    void *moved = bgc_counted_realloc(block, new_size);
    if (moved == NULL && new_size != 0) gmp_out_of_memory(__func__, new_size);
    return moved;
}

void bgc_gmp_counted_free(void *block, size_t size) {
    (void)size;
    bgc_counted_free(block);
}

void *bgc_gmp_collected_alloc(size_t size) {
    void *block = bgc_malloc_pointerless(size);
    if (block == NULL) gmp_out_of_memory(__func__, size);
    return block;
}

void *bgc_gmp_collected_realloc(void *block, size_t old_size, size_t new_size) {
    (void)old_size;
    void *moved = bgc_realloc(block, new_size);
    if (moved == NULL && new_size != 0) gmp_out_of_memory(__func__, new_size);
    return moved;
}

void bgc_gmp_collected_free(void *block, size_t size) {
    (void)size;
    (void)bgc_free(block);
}
