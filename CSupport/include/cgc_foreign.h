// Foreign memory: malloc measurement and resource-record locks (foreign.c).
//
// ForeignResource and the ports charge the collector for memory it cannot
// see (malloc'd buffers, converters), so the shim measures the process's
// malloc: glibc's mallinfo2, or jemalloc's mallctl when that is the malloc
// in use (found once, at run time), or nothing when it can read neither
// (every measurement is then 0, and the Swift layer falls back to fixed
// figures). A resource record's lock is a 32-bit word inside the record (a
// GC object), waited on with a process-private futex; the shim keeps a
// short thread-local list of the records the calling thread holds, so a
// second lock by the same thread is told apart from a wait. Any thread may
// call these; none takes a lock of libgc's or allocates GC memory.
#ifndef CGC_FOREIGN_H
#define CGC_FOREIGN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which malloc the process uses, as far as the library can read it.
typedef enum {
    /// Not one the library can read (neither glibc's malloc nor jemalloc):
    /// measured sizes fall back to a fixed figure.
    CGC_MALLOC_UNREADABLE = 0,
    /// glibc's own malloc: mallinfo2, process-wide.
    CGC_MALLOC_GLIBC = 1,
    /// jemalloc (preloaded or linked): mallctl, with counters per thread.
    CGC_MALLOC_JEMALLOC = 2,
} cgc_malloc_kind;

/// The process's malloc, found once (dlsym: jemalloc's `mallctl`, and
/// whether `malloc` is glibc's own).
cgc_malloc_kind cgc_malloc_kind_in_use(void);

/// Test hook: from now on the process's malloc is taken to be unreadable,
/// whatever it is (the fallback of every measurement).
void cgc_malloc_treat_as_unreadable(void);

/// Bytes of malloc memory in use by the whole process: glibc mallinfo2
/// (arena bytes in use plus mmapped chunks), or jemalloc's `stats.allocated`
/// (after an `epoch` refresh); 0 for an unreadable malloc. Swift cannot call
/// either: <malloc.h> is not in the Glibc module, mallinfo2 returns a
/// struct by value, and mallctl is found at run time.
size_t cgc_malloc_in_use_bytes(void);

/// A counter whose difference around a call is what the call allocated and
/// did not free: under jemalloc the calling thread's own (`thread.allocated`
/// less `thread.deallocated`, so other threads do not skew it), under
/// glibc's malloc the process's bytes in use; 0 for an unreadable malloc.
uint64_t cgc_malloc_measure_counter(void);

/// Waits on the 32-bit word at `word` while it holds `expected` (futex
/// FUTEX_WAIT, process-private; returns at once if it holds another value,
/// and may return spuriously). The lock of a foreign resource's record is a
/// word inside the record (a GC object), so it needs no allocation of its
/// own; Swift cannot make the system call (syscall(2) is variadic).
void cgc_futex_wait(uint32_t *word, uint32_t expected);

/// Wakes one thread waiting on `word` (futex FUTEX_WAKE, process-private).
void cgc_futex_wake_one(uint32_t *word);

/// Notes that the calling thread now holds the lock of the resource record
/// at `record` (a thread-local list of the few it holds at once), so that a
/// second lock by the same thread is told apart from a wait; Swift has no
/// cheap thread-local storage of its own.
void cgc_record_lock_held(const void *record);

/// Notes that the calling thread released the lock of `record`.
void cgc_record_lock_released(const void *record);

/// Whether the calling thread holds the lock of `record` (1) or not (0).
int cgc_record_lock_is_held(const void *record);
#ifdef __cplusplus
}
#endif

#endif
