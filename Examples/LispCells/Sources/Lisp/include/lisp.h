// The cells of a small Lisp runtime on the BoehmGC heap.
#ifndef LISP_H
#define LISP_H

#include <stddef.h>
#include <stdint.h>

/// A pair: `car` is a number here, `cdr` the rest of the list (or NULL).
/// Swift code makes cells of the same layout (two words, scanned).
typedef struct lisp_cell {
    intptr_t car;
    struct lisp_cell *cdr;
} lisp_cell;

/// A new cell (on the GC heap: scanned, collected when unreachable), or
/// NULL when the heap limit is reached.
lisp_cell *lisp_cons(intptr_t car, lisp_cell *cdr);

/// The list (n n-1 ... 1).
lisp_cell *lisp_iota(intptr_t n);

/// The sum of a list's numbers.
intptr_t lisp_sum(const lisp_cell *list);

/// Builds `threads` lists of `length` cells, each on a C thread of its own
/// (made with bgc_pthread_create), and returns the sum of all their sums.
intptr_t lisp_sum_on_threads(int threads, intptr_t length);

/// The global environment: a list the runtime keeps for ever, held by a
/// root (the list lives on the GC heap; the root in malloc'd memory).
void lisp_define(intptr_t value);
const lisp_cell *lisp_globals(void);

/// A string buffer: a GC object that owns `capacity` bytes of malloc'd
/// memory, reported to the collector's foreign-memory account and freed by
/// a finalizer once the buffer is unreachable.
typedef struct lisp_buffer lisp_buffer;
lisp_buffer *lisp_buffer_make(size_t capacity);

/// Buffers whose finalizer has run.
long lisp_buffers_freed(void);

#endif
