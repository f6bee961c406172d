// The runtime object and the process-wide slots (runtime.c).
//
// The Swift layer keeps its process-wide state in one object, the runtime,
// made once per process under a lock that fork also takes, so a forked
// child never inherits a half-made one; the package's other modules keep
// theirs in a few numbered slots of plain C storage, zero at load (no lazy
// initialisation a fork could copy half-done), each filled once, inside the
// gate (cgc_threads.h), so a fork waits until its object is made. Slots are
// stored with release and read with acquire, from any thread. The storage
// behind both is the shim's own: no global is declared here.
#ifndef CGC_RUNTIME_H
#define CGC_RUNTIME_H

#ifdef __cplusplus
extern "C" {
#endif

/// The library's runtime object (opaque to C), or NULL before it started.
void *cgc_runtime(void);

/// Returns the runtime object, calling `create` to make it first if there
/// is none, under a lock that fork also takes (a fork waits for a start in
/// progress, so no child inherits a half-made runtime).
void *cgc_runtime_start(void *(*create)(void));

/// How many process-wide slots there are (see ProcessWide in the Swift
/// layer); a slot number is below this.
#define CGC_PROCESS_WIDE_SLOTS 8

/// The object in process-wide slot `slot`, or NULL while there is none
/// (an acquire load).
static inline void *cgc_process_wide_load(int slot) {
    extern void *cgc_process_wide[CGC_PROCESS_WIDE_SLOTS]; // runtime.c
    return __atomic_load_n(&cgc_process_wide[slot], __ATOMIC_ACQUIRE);
}

/// Puts `object` into process-wide slot `slot` (a release store), once,
/// when the slot's owner is made.
static inline void cgc_process_wide_store(int slot, void *object) {
    extern void *cgc_process_wide[CGC_PROCESS_WIDE_SLOTS]; // runtime.c
    __atomic_store_n(&cgc_process_wide[slot], object, __ATOMIC_RELEASE);
}

/// Puts `object` in an empty slot (compare-and-swap) and returns it; if the
/// slot was filled first, returns the object already there (for objects made
/// before the collector starts, without a lock).
static inline void *cgc_process_wide_install(int slot, void *object) {
    extern void *cgc_process_wide[CGC_PROCESS_WIDE_SLOTS]; // runtime.c
    void *expected = NULL;
    if (__atomic_compare_exchange_n(&cgc_process_wide[slot], &expected, object, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return object;
    return expected;
}

#ifdef __cplusplus
}
#endif

#endif
