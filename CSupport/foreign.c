// Foreign memory: measurement for ForeignResource and the ports' converter
// sizes, and the futex calls of a resource record's lock.
//
// Why C: mallinfo2 is declared in <malloc.h>, which the Swift Glibc module
// does not include, and it returns a struct by value; jemalloc's mallctl
// is found at run time (dlsym) and called through a pointer; syscall(2),
// through which futex is reached, is variadic.
//
// Which malloc: glibc's mallinfo2 sees glibc's arenas only, so under
// jemalloc (LD_PRELOAD, or linked, as Swift servers often run) it reads 0
// and every measured size would be 0. The kind is found once: jemalloc when
// `mallctl` resolves and `malloc` is not glibc's own, glibc when `malloc` is
// glibc's own, otherwise unreadable.
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <linux/futex.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (*mallctl_fn)(const char *name, void *old, size_t *old_length, void *new_value, size_t new_length);

// 0: not found yet; else the kind plus 1. Found with no lock: every thread
// that races finds the same answer.
static int found_kind;
static mallctl_fn mallctl_function;

cgc_malloc_kind cgc_malloc_kind_in_use(void) {
    int kind = __atomic_load_n(&found_kind, __ATOMIC_ACQUIRE);
    if (kind != 0) return (cgc_malloc_kind)(kind - 1);
    void *in_use = dlsym(RTLD_DEFAULT, "malloc");
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *glibc_malloc = libc != NULL ? dlsym(libc, "malloc") : NULL;
    if (libc != NULL) dlclose(libc);
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    cgc_malloc_kind result = CGC_MALLOC_UNREADABLE;
    if (in_use != NULL && in_use == glibc_malloc) {
        result = CGC_MALLOC_GLIBC;
    } else if (mallctl != NULL) {
        __atomic_store_n(&mallctl_function, mallctl, __ATOMIC_RELAXED);
        result = CGC_MALLOC_JEMALLOC;
    }
    __atomic_store_n(&found_kind, (int)result + 1, __ATOMIC_RELEASE);
    return result;
}

void cgc_malloc_treat_as_unreadable(void) {
    __atomic_store_n(&found_kind, (int)CGC_MALLOC_UNREADABLE + 1, __ATOMIC_RELEASE);
}

size_t cgc_malloc_in_use_bytes(void) {
    switch (cgc_malloc_kind_in_use()) {
    case CGC_MALLOC_GLIBC: {
        struct mallinfo2 info = mallinfo2();
        return info.uordblks + info.hblkhd;
    }
    case CGC_MALLOC_JEMALLOC: {
        // The statistics are a snapshot taken at each epoch change.
        uint64_t epoch = 1;
        size_t length = sizeof epoch;
        mallctl_function("epoch", &epoch, &length, &epoch, length);
        size_t allocated = 0;
        length = sizeof allocated;
        if (mallctl_function("stats.allocated", &allocated, &length, NULL, 0) != 0) return 0;
        return allocated;
    }
    default:
        return 0;
    }
}

// This thread's jemalloc counters (found at its first measurement; valid
// for the thread's life).
static _Thread_local uint64_t *thread_allocated;
static _Thread_local uint64_t *thread_deallocated;

uint64_t cgc_malloc_measure_counter(void) {
    switch (cgc_malloc_kind_in_use()) {
    case CGC_MALLOC_GLIBC:
        return cgc_malloc_in_use_bytes();
    case CGC_MALLOC_JEMALLOC:
        if (thread_allocated == NULL) {
            size_t length = sizeof(uint64_t *);
            if (mallctl_function("thread.allocatedp", &thread_allocated, &length, NULL, 0) != 0 ||
                mallctl_function("thread.deallocatedp", &thread_deallocated, &length, NULL, 0) != 0) {
                thread_allocated = NULL;
                return 0;
            }
        }
        return *thread_allocated - *thread_deallocated;
    default:
        return 0;
    }
}

// The resource records whose lock this thread holds, innermost last. Locks
// nest a few deep at most (a port's write that vacuums other ports, a
// ForeignResource used inside another's withHandle); past the list's room a
// lock is counted but not noted, and its reentry is not caught.
#define HELD_RECORDS 8
static _Thread_local const void *held_records[HELD_RECORDS];
static _Thread_local int held_count;

void cgc_record_lock_held(const void *record) {
    if (held_count < HELD_RECORDS) held_records[held_count] = record;
    held_count++;
}

void cgc_record_lock_released(const void *record) {
    int noted = held_count < HELD_RECORDS ? held_count : HELD_RECORDS;
    for (int i = noted - 1; i >= 0; i--) {
        if (held_records[i] == record) {
            for (int j = i; j + 1 < noted; j++) held_records[j] = held_records[j + 1];
            break;
        }
    }
    if (held_count > 0) held_count--;
}

int cgc_record_lock_is_held(const void *record) {
    int noted = held_count < HELD_RECORDS ? held_count : HELD_RECORDS;
    for (int i = 0; i < noted; i++) {
        if (held_records[i] == record) return 1;
    }
    return 0;
}

void cgc_futex_wait(uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void cgc_futex_wake_one(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
