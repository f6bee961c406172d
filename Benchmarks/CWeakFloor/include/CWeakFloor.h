// The raw libgc floor the weak-table benchmark compares against, measured in
// the same process: what one weak entry costs when libgc does the work
// (allocate the key, register a disappearing link to it).
//
// Why C: the floor must be libgc alone, without the Swift layer's checks,
// thread-registration test or retain/release.
#ifndef CWEAKFLOOR_H
#define CWEAKFLOOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// ns per GC_MALLOC of `size` bytes, `n` objects, none kept.
double cwf_alloc_ns(size_t n, size_t size);

/// ns per GC_MALLOC of `size` bytes plus GC_general_register_disappearing_link
/// from a fresh link cell to it, `n` times. With `keep` non-zero every object
/// stays reachable (a table of `n` live entries); with 0 each dies at once
/// (churn). All links are unregistered afterwards, outside the timing.
/// Returns a negative number if allocation failed.
double cwf_alloc_link_ns(size_t n, size_t size, int keep);

/// Collections libgc counted so far (GC_get_gc_no), to report how many a
/// floor run forced.
unsigned long cwf_gc_count(void);

#ifdef __cplusplus
}
#endif

#endif
