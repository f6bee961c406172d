// What the tests need in C: clearing the dead part of the stack.
//
// Why C: Swift has no stack buffer of a chosen size (above 1 KiB,
// withUnsafeTemporaryAllocation allocates on the heap), so a Swift scrub
// cannot overwrite the stack below its caller.
#ifndef CTESTSUPPORT_H
#define CTESTSUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Zeroes 64 KiB of the stack below the caller's frame, where returned
/// frames left copies of object addresses that would keep objects alive.
void ctest_scrub_stack(void);

/// Leaves `word` in 16 KiB of dead stack below the caller (the test of the
/// scrub).
void ctest_plant_word(uintptr_t word);

/// How many times `word` appears in the 64 KiB of dead stack below the
/// caller.
size_t ctest_count_word(uintptr_t word);

#endif
