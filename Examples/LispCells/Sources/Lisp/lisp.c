#include "lisp.h"

#include <bgc.h>
#include <pthread.h>
#include <stdlib.h>

lisp_cell *lisp_cons(intptr_t car, lisp_cell *cdr) {
    lisp_cell *cell = bgc_malloc(sizeof *cell);
    if (cell == NULL) return NULL;
    cell->car = car;
    cell->cdr = cdr;
    return cell;
}

lisp_cell *lisp_iota(intptr_t n) {
    lisp_cell *list = NULL;
    for (intptr_t i = 1; i <= n; i++) list = lisp_cons(i, list);
    return list;
}

intptr_t lisp_sum(const lisp_cell *list) {
    intptr_t sum = 0;
    for (; list != NULL; list = list->cdr) sum += list->car;
    return sum;
}

// A thread made with bgc_pthread_create is registered before it runs, so
// the cells on its stack are safe from the first one.
static void *sum_of_a_new_list(void *length) {
    lisp_cell *list = lisp_iota((intptr_t)length);
    bgc_collect();
    return (void *)lisp_sum(list);
}

intptr_t lisp_sum_on_threads(int threads, intptr_t length) {
    pthread_t ids[16];
    if (threads > 16) threads = 16;
    for (int t = 0; t < threads; t++)
        if (bgc_pthread_create(&ids[t], NULL, sum_of_a_new_list, (void *)length) != 0) return -1;
    intptr_t total = 0;
    for (int t = 0; t < threads; t++) {
        void *sum = NULL;
        pthread_join(ids[t], &sum);
        total += (intptr_t)sum;
    }
    return total;
}

// The root lives in static memory; libgc scans static data too, but a root
// works anywhere, malloc'd memory included.
static bgc_root *globals;

void lisp_define(intptr_t value) {
    if (globals == NULL) globals = bgc_root_create(NULL);
    bgc_root_set(globals, lisp_cons(value, bgc_root_get(globals)));
}

const lisp_cell *lisp_globals(void) { return globals ? bgc_root_get(globals) : NULL; }

struct lisp_buffer {
    char *bytes;
    size_t capacity;
};

static long freed;

static void free_buffer(void *object, void *data) {
    (void)data;
    lisp_buffer *buffer = object;
    // bgc_counted_free gives the bytes back to the account.
    bgc_counted_free(buffer->bytes);
    __atomic_fetch_add(&freed, 1, __ATOMIC_RELAXED);
}

lisp_buffer *lisp_buffer_make(size_t capacity) {
    // The buffer object is pointer-free for the collector: its bytes are
    // malloc'd, which the collector neither scans nor counts, so the
    // counting allocator reports them.
    lisp_buffer *buffer = bgc_malloc_pointerless(sizeof *buffer);
    if (buffer == NULL) return NULL;
    buffer->bytes = bgc_counted_malloc(capacity);
    buffer->capacity = capacity;
    if (buffer->bytes == NULL || bgc_set_finalizer(buffer, free_buffer, NULL) != BGC_SUCCESS) return NULL;
    return buffer;
}

long lisp_buffers_freed(void) { return __atomic_load_n(&freed, __ATOMIC_RELAXED); }
