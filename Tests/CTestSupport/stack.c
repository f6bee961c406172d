#include "CTestSupport.h"

#include <string.h>

enum { SCRUB_BYTES = 65536, PLANT_WORDS = 2048 };

__attribute__((noinline)) void ctest_scrub_stack(void) {
    volatile char wipe[SCRUB_BYTES];
    memset((char *)wipe, 0, sizeof wipe);
    __asm__ __volatile__("" : : "r"(wipe) : "memory");
}

__attribute__((noinline)) void ctest_plant_word(uintptr_t word) {
    volatile uintptr_t frame[PLANT_WORDS];
    for (int i = 0; i < PLANT_WORDS; i += 64) frame[i] = word;
    __asm__ __volatile__("" : : "r"(frame) : "memory");
}

__attribute__((noinline)) size_t ctest_count_word(uintptr_t word) {
    // Not initialised on purpose: it reads what dead frames left.
    volatile uintptr_t look[SCRUB_BYTES / sizeof(uintptr_t)];
    size_t found = 0;
    for (size_t i = 0; i < SCRUB_BYTES / sizeof(uintptr_t); i++) found += look[i] == word;
    return found;
}
