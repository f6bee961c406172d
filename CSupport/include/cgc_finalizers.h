// Finalizers and the finalizer thread; the post-GC hooks' passes and their
// thread (finalizers.c).
//
// libgc calls one trampoline for every finalizer the library registers; it
// forwards to one handler (the Swift layer's) with the object and its client
// data, and wipes the dead stack below it afterwards, so no object address
// is left where the collector scans. Finalizers run in batches, one batch
// at a time, on whichever thread calls cgc_run_finalizers (usually the
// finalizer thread, which a collection wakes); a finalizer may drain the
// queue itself without waiting for its own batch. Post-GC hooks run in
// passes of their own, apart from the batches, on the hook thread (which
// the end of every collection wakes) or in cgc_run_hooks. The registration calls take libgc's allocation lock; the
// wake-up is async-signal-safe and never allocates. The per-thread depth
// behind cgc_current_finalizer_depth is the shim's own: no global is
// declared here.
#ifndef CGC_FINALIZERS_H
#define CGC_FINALIZERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: Finalizers

/// The function the trampoline forwards to: (object, client data).
typedef void (*cgc_finalizer_handler)(void *object, void *data);

/// Sets the handler every finalizer registered with cgc_register_finalizer
/// forwards to. Set once, at initialisation.
void cgc_set_finalizer_handler(cgc_finalizer_handler handler);

/// Registers the trampoline as `object`'s finalizer (no-order semantics).
/// Returns 0; 1 if the object already had a trampoline finalizer, which is
/// then replaced and whose data is stored in *old_data; -1 if it had a
/// finalizer of someone else's, which is left in place.
int cgc_register_finalizer(void *object, void *data, void **old_data);

/// Removes the trampoline finalizer of `object`. Returns 1 and its data in
/// *old_data if there was one, 0 if there was none (nothing changes),
/// -1 if the finalizer is someone else's (it is put back).
int cgc_unregister_finalizer(void *object, void **old_data);

/// Sets a C finalizer on `object` (the C API's bgc_set_finalizer): `fn(object,
/// data)` runs once, as the trampoline's finalizers do, and `data` stays
/// alive until then. Returns 0; -1 if the object has a finalizer already
/// (left in place); -2 if the record cannot be allocated.
int cgc_set_c_finalizer(void *object, void (*fn)(void *object, void *data), void *data);

/// Removes a finalizer set by cgc_set_c_finalizer. Returns 0 if one was
/// removed, -1 if there was none of that kind (another stays in place).
int cgc_remove_c_finalizer(void *object);

/// Runs every finalizer that is ready (GC_invoke_finalizers until none is
/// left), then clears the dead stack below. One batch runs at a time: the
/// call waits for a batch running on another thread (except from inside a
/// finalizer). Returns how many finalizers ran.
size_t cgc_run_finalizers(void);

/// Runs `pass(context)` (one pass of the post-GC hooks), then clears the
/// dead stack below. One pass runs at a time, apart from the finalizers'
/// batches: the call waits for a pass running on another thread (except
/// from inside a pass), never for a batch.
void cgc_run_hooks(void (*pass)(void *context), void *context);

/// Zeroes a few pages of dead stack below the caller, so stale copies of
/// object addresses left by returned frames cannot keep objects alive.
void cgc_clear_dead_stack(void);

/// Depth of finalizer calls on this thread: 0 outside finalizers and
/// post-GC hooks, more inside one (one thread-local load).
static inline int cgc_current_finalizer_depth(void) {
    extern _Thread_local int cgc_finalizer_depth; // finalizers.c
    return cgc_finalizer_depth;
}

/// 1 if the calling thread is inside a pass of the post-GC hooks (a hook
/// runs there), 0 otherwise.
int cgc_in_hook_pass(void);

/// 1 if the calling thread runs a finalizer or a post-GC hook (a callback
/// of the library's), 0 otherwise.
static inline int cgc_in_callback(void) { return cgc_current_finalizer_depth() > 0 || cgc_in_hook_pass(); }

// MARK: The finalizer thread

/// Sets up the finalizer thread's wake-up: libgc's finalizer notifier (a
/// collection queued finalizers) and the end of every collection post it.
/// Call once, before the thread starts.
void cgc_finalizer_thread_prepare(void);

/// Waits for the next wake-up (the finalizer thread's loop).
void cgc_finalizer_thread_wait(void);

/// Wakes the finalizer thread, if there is one. Async-signal-safe; never
/// allocates.
void cgc_wake_finalizer_thread(void);

/// Waits until the finalizer thread has run every finalizer that is ready
/// (and the batch that ran them has ended), or until `timeout_ns` passed.
/// It waits for finalizers only, never for post-GC hooks. Returns at once,
/// with 1, when there is no finalizer thread, nothing is
/// ready, or the caller is a finalizer or hook. Returns 1 if the thread
/// caught up, 0 at the timeout. Takes no lock of libgc's and allocates
/// nothing.
int cgc_finalizer_thread_catch_up(uint64_t timeout_ns);

// MARK: The post-GC hook thread

/// Sets up the hook thread's wake-up, posted at the end of every
/// collection. Call once, before the thread starts.
void cgc_hook_thread_prepare(void);

/// Waits for the next wake-up (the hook thread's loop), and takes the ones
/// that piled up meanwhile.
void cgc_hook_thread_wait(void);

#ifdef __cplusplus
}
#endif

#endif
