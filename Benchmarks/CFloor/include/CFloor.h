// The raw libgc floors the benchmarks compare against, measured in the same
// process: what an operation costs when libgc alone does the work.
//
// Why C: a floor must be libgc alone, without the Swift layer's checks,
// thread-registration test or retain/release. Each function times its own
// loop (CLOCK_MONOTONIC, as BenchmarkSupport's clock) so that its set-up and
// clean-up stay outside the timing.
#ifndef CFLOOR_H
#define CFLOOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// ns per GC_MALLOC of `size` bytes (scanned), `n` objects, none kept.
/// Returns a negative number if allocation failed.
double cfloor_alloc_ns(size_t n, size_t size);

/// ns per GC_MALLOC of `size` bytes plus GC_general_register_disappearing_link
/// from a fresh link cell to it, `n` times. With `keep` non-zero every object
/// stays reachable (a table of `n` live entries); with 0 each dies at once
/// (churn). All links are unregistered afterwards, outside the timing.
/// Returns a negative number if allocation failed.
double cfloor_alloc_link_ns(size_t n, size_t size, int keep);

/// The floor of an intern hit: ns per lookup of each of `n` names (name i at
/// bytes[starts[i] ..< starts[i + 1]]), in the order `order` gives (NULL: in
/// name order), in a plain open-addressing table of the same layout as
/// GCWeakSet's (16-byte slots: the symbol hidden, its hash beside it; at
/// most half full), hashed as weak-table-bench hashes names, the symbols
/// pointer-free GC objects ([length][bytes]) kept in an uncollectable array.
/// No lock, no sequence check, no sweep window: the memory access pattern
/// alone. The best of 3 batches. Returns a negative number if allocation
/// failed.
double cfloor_intern_hit_ns(const unsigned char *bytes, const long *starts, size_t n, const long *order);

/// Collections libgc counted so far (GC_get_gc_no), to report how many a
/// floor run forced.
unsigned long cfloor_gc_count(void);

#ifdef __cplusplus
}
#endif

#endif
