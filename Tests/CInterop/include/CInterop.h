// C code that uses the library through its public C API (bgc.h) only, as a
// user's C target does: checks of each call, and the program shapes the C
// interop tests run many times in child processes (Tests/CShapes).
#ifndef CINTEROP_H
#define CINTEROP_H

#include <stddef.h>
#include <stdint.h>

/// What a check saw: failed checks, and one line per check.
typedef struct cinterop_report {
    int failures;
    size_t length;
    char text[16384];
} cinterop_report;

/// The report's lines, NUL-terminated.
const char *cinterop_report_text(const cinterop_report *report);

// MARK: Checks of the API, one call or mechanism each (api.c)

void cinterop_check_memory(cinterop_report *report);
/// Sets a process-wide heap limit: only in a process of its own.
void cinterop_check_heap_limit(cinterop_report *report);
void cinterop_check_roots(cinterop_report *report);
void cinterop_check_weak_refs(cinterop_report *report);
void cinterop_check_finalizers_and_hooks(cinterop_report *report);
void cinterop_check_foreign_memory(cinterop_report *report);
void cinterop_check_threads(cinterop_report *report);
void cinterop_check_configuration_after_start(cinterop_report *report);
/// Reads the counters before the library starts, then configures it: only
/// in a process where nothing has started it.
void cinterop_check_reads_before_start(cinterop_report *report);

// MARK: Shapes (shapes.c, libraries.c)

/// How the list-building threads of cinterop_lists are made.
enum {
    /// pthread_create; the thread's first bgc call registers it.
    CINTEROP_THREADS_DIRECT = 0,
    /// bgc_pthread_create.
    CINTEROP_THREADS_WRAPPER = 1,
    /// pthread_create; the thread blocks every signal, then registers by
    /// hand (bgc_register_thread).
    CINTEROP_THREADS_BLOCKED = 2,
    /// pthread_create; the thread runs the work inside bgc_with_gc.
    CINTEROP_THREADS_SCOPED = 3,
    /// The control: pthread_create, and gc.h's GC_malloc from a thread
    /// libgc does not know (lists are freed early, or libgc aborts).
    CINTEROP_THREADS_UNREGISTERED = 4,
    /// pthread_create, as DIRECT, but the list heads live in malloc'd
    /// memory held only by root ranges (bgc_add_roots, the range added
    /// twice and removed once, an overlapping range added and removed now
    /// and then while collections run).
    CINTEROP_THREADS_RANGES = 5,
};

/// `threads` threads of kind `how` each build `lists` lists of cons cells
/// (bgc_malloc) while another thread collects, pausing now and then so some
/// lists are built between collections; each then checks every list's sum.
/// Returns the number of lists found corrupt (0 expected).
int cinterop_lists(int how, int threads, int lists, cinterop_report *report);

/// Makes `rounds` threads with bgc_pthread_create from a registered thread
/// that blocks every signal around each call, while another collects.
/// Returns the threads that could not be made.
int cinterop_blocked_create(int rounds, cinterop_report *report);

/// Starts the library from C before anything else: through bgc_init, or,
/// with `raw`, through gc.h alone (GC_INIT and a GC_MALLOC), as C code that
/// knows nothing of the library would.
void cinterop_start_first(int raw);

/// gc.h's GC_gcollect and GC_get_gc_no, called directly.
void cinterop_raw_collect(void);
uint64_t cinterop_raw_collection_number(void);

/// Starts two threads that keep the C API busy for ever (allocation,
/// finalizers, weak references, roots, root ranges, collections), and one
/// that makes thread after thread, each blocking every signal before its
/// first bgc_ call.
void cinterop_start_busy_threads(void);

/// What each forked child does (also run once in the parent first);
/// returns its exit status.
int cinterop_child_work(void);

/// Forks `children` times, each child running cinterop_child_work; a child
/// alive after 30 s is killed and counted as hung. Returns the number of
/// children that failed or hung.
int cinterop_fork_children(int children, cinterop_report *report);

/// zlib: `streams` deflate streams whose z_stream lives in a GC object,
/// with the library's counting hooks (or zlib's own malloc when `hooks` is
/// 0); each is ended (`end_each`) or dropped with a finalizer that ends it.
/// Reports the peak of live foreign bytes and what is live at the end.
/// Returns the number of failed checks.
int cinterop_zlib(int streams, int end_each, int hooks, cinterop_report *report);

/// GMP through the counting hooks: numbers in GC objects, dropped with a
/// finalizer that clears them, beside a second GMP user whose numbers live
/// in malloc'd memory and are checked as they are computed. Returns wrong
/// results (0 expected).
int cinterop_gmp_counted(int rounds, cinterop_report *report);

/// GMP through the collected hooks: numbers in GC objects, dropped
/// without mpz_clear, checked across collections; and the rule those hooks
/// set: limbs of numbers kept in malloc'd memory are collected under them.
/// Returns wrong results among the GC-held numbers (0 expected); the rule's
/// count goes to *malloc_limbs_collected (of `rounds`).
int cinterop_gmp_collected(int rounds, int *malloc_limbs_collected, cinterop_report *report);

/// GMP through the collected hooks under a 16 MiB heap limit, asked for a
/// number larger than that: the hook ends the process with a message.
void cinterop_gmp_out_of_memory(void);

/// VmHWM of this process, in bytes.
size_t cinterop_peak_resident_bytes(void);

#endif
