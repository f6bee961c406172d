// Thread registration, the library gate, and fork (threads.c).
//
// A thread that touches GC memory must be registered with libgc, with its
// suspend and restart signals unblocked; Dispatch and Swift-concurrency
// threads are not, so every entry into the library registers the calling
// thread on first use (a thread-local flag makes that one load afterwards),
// and a pthread-key destructor unregisters it when it exits. Every lock of
// the library is taken inside the gate: a thread entering increments its
// depth; the fork handler closes the gate and waits until no other thread
// is inside, so no lock of ours is held when fork copies the process.
// Entering while the gate is closed waits at the outermost level only (a
// thread already inside holds locks the fork is waiting for). The
// thread-locals and words behind the inline functions are the shim's own:
// no global is declared here.
#ifndef CGC_THREADS_H
#define CGC_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

// MARK: Registration

/// A registered thread, as the fork handler sees it: how deep it is inside
/// sections of the library (cgc_gate_enter). Each thread has one, in its
/// thread-local storage (threads.c).
typedef struct cgc_thread_record {
    struct cgc_thread_record *next;
    struct cgc_thread_record *prev;
    /// Read and written only with __atomic builtins.
    long depth;
} cgc_thread_record;

/// Registers the calling thread with the collector if it is not yet known,
/// unblocks libgc's suspend and restart signals, and arranges for the thread
/// to be unregistered when it exits (signals unblocked again first). Returns
/// 0, or -1 if libgc refused.
int cgc_register_current_thread(void);

/// Whether the calling thread is registered through this shim (1) or not
/// (0). The fast path every API entry takes: one thread-local load. (Swift
/// reads thread-locals through this, not the variable.)
static inline int cgc_current_thread_is_registered(void) {
    extern _Thread_local int cgc_thread_registered; // threads.c
    return cgc_thread_registered;
}

/// Unregisters the calling thread now (it re-registers on next use).
void cgc_unregister_current_thread(void);

/// Threads registered through this shim and not yet unregistered.
long cgc_registered_thread_count(void);

/// Starts a detached thread running `body(context)`: every thread the
/// library starts (the Swift layer's background threads and the weak
/// sweep's helpers) starts here. Returns 0, or the error of pthread_create.
///
/// The new thread first names itself (`name`, 15 bytes at most, Linux's
/// limit; a longer name is cut) for /proc, debuggers and crash backtraces,
/// and unblocks SIGPROF, so the Swift runtime's crash handler can suspend it
/// and print its backtrace: on Linux the handler sends each other thread the
/// first of SIGUSR1, SIGUSR2 and SIGPROF the thread leaves unblocked, and
/// leaves out (with a "failed to suspend thread" line) a thread that blocks
/// all three. SIGPROF, because programs rarely wait for it with sigwait or a
/// signalfd (which an unblocked thread would steal it from), and a profiler
/// that uses it installs a handler. Every other signal stays as the thread
/// inherited it, which `body` may change (never blocking SIGPROF).
///
/// Returns once the thread has done so: until it runs, a new thread blocks
/// every signal (glibc's pthread_create), and a crash in that window,
/// which a loaded machine stretches to milliseconds, would leave it out of
/// the backtrace. Must not be called from inside a collection.
int cgc_start_thread(const char *name, void (*body)(void *), void *context);

// MARK: The gate (fork safety)

/// The slow path of cgc_gate_enter: the gate was closed when the calling
/// thread entered at the outermost level; steps out, waits for the fork to
/// finish, and enters again.
void cgc_gate_wait(void);

/// The slow path of cgc_gate_enter for a thread not registered yet:
/// registers it (once the library has started), then enters. Returns 0, or
/// -1 if libgc refused the thread (it has not entered then).
int cgc_gate_enter_unregistered(void);

/// Enters a section of the library (registering the calling thread first if
/// need be). A full barrier orders the depth before the read of the gate's
/// word (the fork handler writes them the other way round). Every call is
/// paired with cgc_gate_exit on the same thread.
static inline void cgc_gate_enter(void) {
    extern _Thread_local int cgc_thread_registered;      // threads.c
    extern _Thread_local cgc_thread_record cgc_self;     // threads.c
    extern int cgc_gate_pending;                         // threads.c; nonzero while a fork waits
    if (__builtin_expect(!cgc_thread_registered, 0)) {
        if (cgc_gate_enter_unregistered() == 0) return;
        // libgc refused the thread: enter anyway (it holds no GC pointers).
    }
    if (__atomic_fetch_add(&cgc_self.depth, 1, __ATOMIC_SEQ_CST) == 0
        && __atomic_load_n(&cgc_gate_pending, __ATOMIC_SEQ_CST))
        cgc_gate_wait();
}

/// Leaves a section entered with cgc_gate_enter.
static inline void cgc_gate_exit(void) {
    extern _Thread_local cgc_thread_record cgc_self; // threads.c
    __atomic_fetch_sub(&cgc_self.depth, 1, __ATOMIC_RELEASE);
}

// MARK: Fork

/// The process's fork generation: 1 at start, one more in each forked child
/// (a lock held across a fork by user code is known by the generation it
/// was taken in).
static inline unsigned cgc_current_fork_generation(void) {
    extern unsigned cgc_fork_generation; // threads.c
    return __atomic_load_n(&cgc_fork_generation, __ATOMIC_RELAXED);
}

/// Sets what runs in a forked child once the shim's own state is reset (the
/// Swift layer restarts its threads there).
void cgc_set_fork_child_handler(void (*in_child)(void));

#ifdef __cplusplus
}
#endif

#endif
