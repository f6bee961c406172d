// The C side of interop-bench: loops that use the C API (bgc.h) as a C
// library's user would, and libgc alone beside them.
//
// Why C: what is measured is C code calling the C API; the floor is C code
// calling libgc, with the same loop.
#ifndef INTEROPC_H
#define INTEROPC_H

#include <stddef.h>
#include <stdint.h>

/// ns per bgc_malloc of `size` bytes, `n` objects in one batch, none kept.
/// Negative if an allocation failed.
double interop_bgc_alloc_ns(size_t n, size_t size);

/// ns per GC_malloc of `size` bytes, the same loop: the floor.
double interop_raw_alloc_ns(size_t n, size_t size);

/// zlib: `streams` deflate streams whose z_stream lives in a GC object.
/// `mode` 0: ended each time (deflateEnd), counting hooks; 1: dropped (a
/// finalizer ends it), counting hooks; 2: dropped, zlib's own malloc.
/// Returns the streams that failed.
int interop_zlib(int streams, int mode);

/// GMP: `rounds` numbers (factorials) on the GC heap, dropped. `mode` 0:
/// the collected hooks (GC_realloc, GC_free); 1: GC-heap hooks as a user
/// wrote them with the Swift API alone (realloc as allocate and copy, free
/// a no-op); 2: the counting hooks (malloc; a finalizer clears each
/// number). Returns a checksum of the results.
uint64_t interop_gmp(int rounds, int mode);

/// bgc_collection_count.
uint64_t interop_collections(void);

#endif
