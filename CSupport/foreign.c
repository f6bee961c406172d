// Foreign memory: measurement for ForeignResource, and the futex calls of a
// resource record's lock.
//
// Why C: mallinfo2 is declared in <malloc.h>, which the Swift Glibc module
// does not include, and it returns a struct by value; syscall(2), through
// which futex is reached, is variadic.
#include "internal.h"

#include <linux/futex.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>

size_t cgc_malloc_in_use_bytes(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

void cgc_futex_wait(uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void cgc_futex_wake_one(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
