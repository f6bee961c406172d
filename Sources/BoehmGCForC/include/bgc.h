/*
 * bgc.h: the BoehmGC library's C API.
 *
 * The collector C and Swift code share: one heap, one set of registered
 * threads, one foreign-memory account, one finalizer thread. A C target gets
 * this header by depending on the package's `BoehmGCForC` product; it
 * includes <gc/gc.h> configured for threads (GC_THREADS), so nothing needs
 * to be defined before it. Include it before any other inclusion of gc.h.
 *
 * Prefix: every symbol is bgc_ (functions, types) or BGC_ (constants).
 *
 * Threads. libgc stops the world by signalling every thread it knows and
 * scans their stacks; a thread it does not know has neither: an object only
 * such a thread holds is freed under it, and a collection it starts aborts.
 * Every function here registers the calling thread with the collector on
 * its first call (and starts the library first if needed), so a thread made
 * with pthread_create may call them at once; it is unregistered when it
 * exits. Register a thread before it holds GC pointers that nothing else
 * reaches (bgc_register_thread, bgc_with_gc, or create it with
 * bgc_pthread_create). Registration unblocks libgc's two signals (SIGPWR and
 * SIGXCPU) on the thread, whatever mask it inherited: a thread started from
 * a Dispatch worker, or one that blocked every signal, can be stopped.
 * Afterwards the thread must not block them again while it calls into the
 * library or libgc: a collection on another thread waits for every
 * registered thread to answer SIGPWR, and libgc aborts after 15 s
 * ("Signals delivery fails constantly"). (bgc_pthread_create unblocks them
 * while it waits, so the common idiom of blocking every signal around
 * thread creation is safe with it.)
 *
 * fork. The library's fork handlers (installed when it is loaded) let a
 * child call every function here: in the child the library's locks are
 * free, the forking thread is the only one (registered if it was), and the
 * library's own threads (finalizers, post-GC hooks) start again. The child
 * is Swift too: see "Threads and fork" in the BoehmGC documentation for the
 * Swift runtime's one lock the handlers cannot wait for.
 *
 * The library is Swift underneath: a program that uses only this header
 * still links the Swift runtime (libswiftCore and its kin), and a crash
 * prints the Swift runtime's backtrace (SWIFT_BACKTRACE=enable=no turns it
 * off). libgc's parallel markers block the signals its crash handler
 * suspends threads with, so each is left out with a line "failed to
 * suspend thread N" (GC_MARKERS=1 in the environment starts none; "Threads
 * and fork" in the BoehmGC documentation says more).
 *
 * Locks. No function here may be called with libgc's allocation lock held
 * (inside GC_call_with_alloc_lock). Any may be called from a finalizer or a
 * post-GC hook unless its contract says otherwise. Finalizers and hooks
 * never run inside another call of this API: only on the library's
 * finalizer thread and post-GC hook thread, or in bgc_run_finalizers.
 *
 * Errors. Allocation returns NULL and sets errno to ENOMEM (heap limit
 * reached even after a collection, or the system refused memory); nothing
 * here aborts, except the GMP hooks, which GMP forbids to return NULL (see
 * there). Other calls return BGC_SUCCESS (0) or a negative status named
 * below (the negated errno value of the same name); bgc_strerror names it.
 *
 * What C code may call from gc.h directly, and what it must leave to the
 * library: see "Using the collector from C" in the BoehmGC documentation
 * (Sources/BoehmGC/BoehmGC.docc/UsingTheCollectorFromC.md). In short: the
 * allocation, size, base, root-range, disappearing-link and statistics
 * functions, from a registered thread; never the settings the library owns
 * (fork handling, finalize-on-demand, the finalizer notifier, the
 * collection-event, start and out-of-memory callbacks, thread
 * registration, GC_enable_incremental); a GC_set_push_other_roots procedure
 * must call the one it replaces (the ranges of bgc_add_roots are pushed
 * there).
 */
#ifndef BGC_H
#define BGC_H

#ifndef GC_THREADS
#define GC_THREADS 1
#endif
/* pthread_create stays the system's: libgc's GC_pthread_create does not
   unblock its signals in a thread started from a Dispatch worker. */
#ifndef GC_NO_THREAD_REDIRECTS
#define GC_NO_THREAD_REDIRECTS 1
#endif
#include <gc/gc.h>

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MARK: Status codes */

enum {
    BGC_SUCCESS = 0,
    /* An argument out of range, or an address that is not the start of a
       GC object. Nothing changed. */
    BGC_EINVAL = -EINVAL,
    /* Memory for the library's own records ran out. Nothing changed. */
    BGC_ENOMEM = -ENOMEM,
    /* A start-up setting given after the library started. */
    BGC_EALREADY = -EALREADY,
    /* The object already has a finalizer (libgc keeps one per object). */
    BGC_EEXIST = -EEXIST,
    /* Nothing of the library's to remove. */
    BGC_ENOENT = -ENOENT,
    /* The foreign-memory counts would pass PTRDIFF_MAX. Nothing recorded. */
    BGC_EOVERFLOW = -EOVERFLOW,
    /* libgc refused to register the calling thread. */
    BGC_EAGAIN = -EAGAIN,
    /* Not allowed from a finalizer or a post-GC hook. */
    BGC_EPERM = -EPERM,
};

/* A sentence naming `status` (a BGC_ code, or 0). Static storage; never
   NULL. Any thread, registered or not; never starts the library. */
const char *bgc_strerror(int status);

/* MARK: Start */

enum {
    /* Finalizers and post-GC hooks run on the library's finalizer thread
       and post-GC hook thread (and in bgc_run_finalizers). */
    BGC_FINALIZERS_ON_THREAD = 0,
    /* Only in bgc_run_finalizers. */
    BGC_FINALIZERS_EXPLICIT = 1,
};

/* The settings libgc reads once, when the library starts: the fields of
   the Swift API's GC.Configuration. A zero field keeps the default. Start
   from BGC_CONFIGURATION_DEFAULT and set fields by name: fields are added
   at the end. */
typedef struct bgc_configuration {
    /* Bytes to grow the heap to at start (at most maximum_heap_size and
       2^47); 0 for libgc's initial size. */
    size_t initial_heap_size;
    /* The heap limit in bytes, 65,536 (libgc cannot start with less) to
       2^47; 0 for none. Allocation past it returns NULL with errno
       ENOMEM. */
    size_t maximum_heap_size;
    /* libgc's free-space divisor (larger: smaller heap, more collections);
       0 for libgc's default, 3. */
    size_t free_space_divisor;
    /* BGC_FINALIZERS_ON_THREAD (0) or BGC_FINALIZERS_EXPLICIT. */
    int finalizers;
    /* 0: full collections only. 1 to 10000: libgc's generational mode, a
       full collection after that many partial ones (see "Generational
       mode" in the documentation: a system call writing into a scanned GC
       object fails with EFAULT). */
    int full_every;
    /* Substrings of the paths of loaded modules the collector does not scan
       for roots (modules that hold no GC pointers and may be unloaded while
       it runs). NULL keeps the default, {"/gconv/"} (glibc's iconv unloads
       its converters on its own), and unscanned_module_count must then be
       0; otherwise unscanned_module_count strings, none empty, at most 16.
       BGC_EINVAL otherwise. The strings are copied. */
    const char *const *unscanned_modules;
    size_t unscanned_module_count;
    /* The heap limit as a share, in (0, 1], of the tightest memory limit
       the process runs under (its cgroup's, else the machine's memory), as
       .NET's GCHeapHardLimitPercent; with maximum_heap_size also set, the
       smaller limit wins. 0 for none. */
    double maximum_heap_share;
} bgc_configuration;

/* Every field at its default. */
#define BGC_CONFIGURATION_DEFAULT {0, 0, 0, BGC_FINALIZERS_ON_THREAD, 0, NULL, 0, 0.0}

/* Sets the start-up settings, replacing any given before (by this call or
   by Swift's GC.configure). Only before the library starts.
   Any thread; does not start the library or register the thread.
   Returns BGC_SUCCESS; BGC_EINVAL for a field out of range, or
   `configuration` NULL (checked first, so also after the start);
   BGC_EALREADY for a valid configuration once the library has started.
   Nothing changes on an error.
   The corresponding Swift function is GC.configure. */
int bgc_configure(const bgc_configuration *configuration);

/* Starts the library now (as the first use of any of its functions, C or
   Swift, does) and registers the calling thread. Calling it again does
   nothing. If C code started libgc through gc.h already (GC_INIT, or any
   GC_MALLOC), the library adopts it: every setting above still takes
   effect, and collections run so far are counted.
   Any thread. Returns BGC_SUCCESS, or BGC_EAGAIN if libgc refused to
   register the calling thread.
   The corresponding gc.h macro is GC_INIT. */
int bgc_init(void);

/* Whether the library has started (1) or not (0). Any thread; never
   starts it. */
int bgc_is_started(void);

/* MARK: Threads */

/* Registers the calling thread with the collector (starting the library if
   needed): from now on libgc scans its stack and can stop it. Unblocks
   SIGPWR and SIGXCPU on the thread. The thread is unregistered when it
   exits; registering a registered thread does nothing.
   Returns BGC_SUCCESS, or BGC_EAGAIN if libgc refused.
   The corresponding gc.h function is GC_register_my_thread. */
int bgc_register_thread(void);

/* Unregisters the calling thread now; its next call into the library
   registers it again. The thread must hold no GC pointer that nothing else
   reaches: its stack is no longer scanned. Does nothing on a thread that is
   not registered. Returns BGC_SUCCESS, or BGC_EPERM from a finalizer or a
   post-GC hook (which run with the finalized object on their stack).
   The corresponding gc.h function is GC_unregister_my_thread. */
int bgc_unregister_thread(void);

/* Whether the calling thread is registered (1) or not (0). Never starts
   the library. */
int bgc_thread_is_registered(void);

/* Calls fn(data) with the calling thread registered, and returns what fn
   returns. A thread that was not registered is registered for the call and
   unregistered after it, so fn's result (and `data`) is not kept alive by
   this thread's stack afterwards. Nests.
   Returns NULL with errno EAGAIN, without calling fn, if libgc refused to
   register the thread; NULL with errno EINVAL if fn is NULL.
   The Guile function of this shape is scm_with_guile. */
void *bgc_with_gc(void *(*fn)(void *data), void *data);

/* pthread_create, for a thread that is registered before fn runs: `arg`
   stays alive (the caller's stack holds it until the new thread's does),
   and the new thread can be stopped whatever signal mask it inherited. The
   caller waits until the new thread has registered, with libgc's two
   signals unblocked while it waits (its mask is restored after). The
   thread is unregistered when it exits (join it or detach it as usual).
   Returns 0 or an error number, as pthread_create: EINVAL if fn is NULL;
   EAGAIN if the calling thread could not be registered (no thread is
   made), or if libgc refused to register the new one (the thread was made
   and has ended without calling fn: join it if it is joinable).
   The corresponding gc.h function is GC_pthread_create. */
int bgc_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *arg), void *arg);

/* MARK: Memory */

/* A zeroed object of `size` bytes (0 gives the smallest object), scanned
   for pointers: every object it points to stays alive while it does. The
   collector frees it once nothing it scans refers to it (a registered
   thread's stack, a root, a scanned GC object). 16-byte aligned.
   NULL with errno ENOMEM when the heap limit is reached even after a
   collection (at the limit a refused allocation collects once, at most
   about 5% of the time, and tries again), or the system refuses memory.
   The corresponding gc.h macro is GC_MALLOC; Guile's is scm_gc_malloc. */
void *bgc_malloc(size_t size);

/* An object of `size` bytes that is never scanned (strings, numbers,
   buffers): pointers stored in it keep nothing alive. Not zeroed.
   NULL with errno ENOMEM as bgc_malloc.
   The corresponding gc.h macro is GC_MALLOC_ATOMIC; Guile's is
   scm_gc_malloc_pointerless. */
void *bgc_malloc_pointerless(size_t size);

/* A zeroed, scanned object that is never collected: a root block. Free it
   with bgc_free. It counts against the heap limit.
   NULL with errno ENOMEM as bgc_malloc.
   The corresponding gc.h macro is GC_MALLOC_UNCOLLECTABLE. */
void *bgc_malloc_uncollectable(size_t size);

/* Resizes an object of this family (any kind), keeping its kind and the
   first min(old, new) bytes; scanned memory added is zeroed. The object
   may move: the old address is then freed at once, as by bgc_free, so no
   other reference to it may remain. `object` NULL allocates as bgc_malloc
   (the smallest object for `size` 0); otherwise `size` 0 frees `object`
   and returns NULL, leaving errno as it was (not an error).
   NULL with errno ENOMEM if the memory cannot be had (`object` is left as
   it was); NULL with errno EINVAL if `object` is not the start of a GC
   object (nothing changes).
   The corresponding gc.h macro is GC_REALLOC. */
void *bgc_realloc(void *object, size_t size);

/* Frees an object of this family now, rather than at a collection: for
   objects whose last use is known (a buffer replaced, GMP limbs), which
   makes collections rarer. Nothing may refer to it afterwards, weakly
   included: its finalizer (remove it first) would run later on whatever
   object then lives at that address, and a weak reference to it would
   read that object. As with free(3), freeing an object twice or using it
   afterwards corrupts the heap: the check below catches addresses that are
   not object starts, not objects already freed. NULL does nothing.
   Returns BGC_SUCCESS, or BGC_EINVAL if `object` is not the start of a GC
   object (nothing is freed).
   The corresponding gc.h macro is GC_FREE; Guile's is scm_gc_free. */
int bgc_free(void *object);

/* Runs a full collection now, on the calling thread (registering it first;
   a thread libgc refused does nothing). Finalizers and hooks it makes
   ready run later, never inside this call.
   The corresponding gc.h function is GC_gcollect. */
void bgc_collect(void);

/* Collections completed since libgc started, full and partial: the
   number post-GC hooks receive. Any thread, registered or not; never
   starts the library (bgc_configure still applies after it): before the
   start it is libgc's own count, 0 unless C code started libgc itself.
   The corresponding Swift property is GC.collectionCount. */
uint64_t bgc_collection_count(void);

/* Changes the heap limit while the program runs: `bytes` (at most 2^47),
   or 0 for none. A limit below the heap size stops growth only.
   Returns BGC_SUCCESS, or BGC_EINVAL above 2^47.
   The corresponding gc.h function is GC_set_max_heap_size. */
int bgc_set_maximum_heap_size(size_t bytes);

/* MARK: Roots */

/* A root: a one-word cell the collector scans, holding one object (or
   NULL). For a GC pointer kept where the collector does not look (malloc'd
   memory, a C++ object, a Swift value): keep the root there instead, and
   read the object through it. Cells are not GC heap memory: they never
   count against the heap limit. */
typedef struct bgc_root bgc_root;

/* A root holding `object` (NULL allowed). The caller keeps `object`
   reachable until this returns. Free it with bgc_root_destroy, on any
   thread. NULL with errno ENOMEM if malloc refused a slab of cells.
   The Swift type of this concept is GCHandle. */
bgc_root *bgc_root_create(void *object);

/* The object the root holds; safe to use while the root holds it. NULL for
   a root that holds none, or `root` NULL. Any thread. */
void *bgc_root_get(const bgc_root *root);

/* Makes the root hold `object` (NULL allowed) instead; nothing for `root`
   NULL. Not atomic with respect to other threads using the same root:
   guard a root shared between threads yourself. */
void bgc_root_set(bgc_root *root, void *object);

/* Gives the root back, on any thread; its object is no longer held by it.
   NULL does nothing; a root destroyed twice corrupts the roots' free
   list. */
void bgc_root_destroy(bgc_root *root);

/* Adds the memory in [start, end) to the roots: every word in it that
   points into the GC heap keeps its object alive. For a static table or a
   malloc'd block of GC pointers. At most 1,024 ranges at a time.
   An empty range (start == end) is accepted and holds nothing. Ranges may
   overlap and the same range may be added more than once: each add counts
   (against the 1,024 too), and a word stays a root while any range that
   covers it is added and not yet removed. (gc.h's GC_add_roots merges
   ranges that share a start, so one GC_remove_roots undoes both; these
   ranges are the library's own, scanned at every collection, and use none
   of libgc's 2,048 root ranges.)
   Returns BGC_SUCCESS; BGC_EINVAL if start > end; BGC_ENOMEM when 1,024
   ranges are registered already.
   The corresponding gc.h function is GC_add_roots. */
int bgc_add_roots(void *start, void *end);

/* Removes one add of a range added by bgc_add_roots, given exactly as
   added; words that another added range covers stay roots.
   Returns BGC_SUCCESS, or BGC_ENOENT if no such range was added (nothing
   changes).
   The corresponding gc.h function is GC_remove_roots. */
int bgc_remove_roots(void *start, void *end);

/* MARK: Weak references */

enum {
    /* Cleared as soon as the object is unreachable, before its finalizer
       runs. */
    BGC_WEAK_SHORT = 0,
    /* Cleared only when the object is reclaimed, after its finalizer ran
       and did not make it reachable again. */
    BGC_WEAK_LONG = 1,
};

/* A weak reference: refers to an object without keeping it alive. Each is
   an entry in libgc's table of disappearing links, which forces a full
   collection before it grows past 4,096 entries: for many short-lived
   weak references use a weak table (Swift's GCWeakTable). */
typedef struct bgc_weak_ref bgc_weak_ref;

/* A weak reference to `object` (the start of a GC object), BGC_WEAK_SHORT
   or BGC_WEAK_LONG. Free it with bgc_weak_ref_destroy.
   NULL with errno EINVAL for an address that is not the start of a GC
   object or an unknown strength; NULL with errno ENOMEM if the link cannot
   be recorded.
   The corresponding gc.h functions are
   GC_general_register_disappearing_link and GC_register_long_link. */
bgc_weak_ref *bgc_weak_ref_create(void *object, int strength);

/* The object, or NULL once the collector cleared the reference (or `ref`
   NULL). Read under the collector's lock: a non-NULL result is safe while
   the calling thread, which this registers, holds it. */
void *bgc_weak_ref_get(const bgc_weak_ref *ref);

/* Unregisters the link and frees the reference; NULL does nothing. */
void bgc_weak_ref_destroy(bgc_weak_ref *ref);

/* MARK: Finalizers and post-GC hooks */

/* A finalizer: runs once, after a collection finds `object` unreachable,
   with the object still intact. Storing `object` somewhere reachable makes
   it live again (it is then not finalized again unless a new finalizer is
   set). Objects it points to are kept alive with it but may have been
   finalized in the same round (libgc's no-order finalization). */
typedef void (*bgc_finalizer)(void *object, void *data);

/* Sets `object`'s finalizer: `fn(object, data)` runs on the finalizer
   thread or in bgc_run_finalizers, never inside another call. `data` is
   kept alive until then (it must not lead back to `object`, or the object
   is never unreachable). Each finalizer is one entry in libgc's finalizer
   table, which forces a full collection before it grows past 4,096
   entries. An uncollectable object's finalizer never runs (the object is
   never unreachable); bgc_free does not run or remove it.
   Returns BGC_SUCCESS; BGC_EEXIST if the object has a finalizer (it stays);
   BGC_EINVAL if `object` is not the start of a GC object or fn is NULL;
   BGC_ENOMEM if the record cannot be allocated.
   The corresponding gc.h function is GC_register_finalizer_no_order. */
int bgc_set_finalizer(void *object, bgc_finalizer fn, void *data);

/* Removes the finalizer that bgc_set_finalizer set on `object`.
   Returns BGC_SUCCESS; BGC_ENOENT if it has none set by this function (a
   finalizer set otherwise stays); BGC_EINVAL if `object` is not the start
   of a GC object. */
int bgc_remove_finalizer(void *object);

/* Runs, on the calling thread, every finalizer and post-GC hook that is
   ready (C's and Swift's), and waits for a batch running on the finalizer
   thread. After bgc_collect(); bgc_run_finalizers(); every object found
   unreachable by that collection has been finalized and every hook has run
   for it. Not while holding a lock a finalizer or hook may take. From a
   finalizer it runs the ready finalizers only (not the hooks, whose pass
   may be waiting for that finalizer's batch); from a post-GC hook it ends
   the process with a message that names the rule (the batch it would wait
   for may be waiting for the hook's pass). Returns how many finalizers
   ran.
   The corresponding gc.h function is GC_invoke_finalizers. */
size_t bgc_run_finalizers(void);

/* A post-GC hook: runs once after every collection, full or partial, on
   the post-GC hook thread or in bgc_run_finalizers, outside the collector's
   lock (it may allocate and take locks briefly; it must not call
   bgc_run_finalizers, which traps there, nor wait for a finalizer or
   another hook); two runs may overlap, so guard shared state.
   `collection` is that collection's bgc_collection_count. */
typedef struct bgc_post_gc_hook bgc_post_gc_hook;

/* Adds a hook calling `fn(collection, data)` after every collection that
   ends from now on, until bgc_post_gc_hook_remove. `data` is not kept
   alive by the hook. NULL with errno EINVAL if fn is NULL, ENOMEM if the
   hook cannot be made. Any thread.
   The Swift type of this concept is PostGCHook; Guile's after-gc C hook
   is scm_after_gc_c_hook. */
bgc_post_gc_hook *bgc_post_gc_hook_add(void (*fn)(uint64_t collection, void *data), void *data);

/* Stops the hook and frees it; NULL does nothing. It waits for a run in
   progress, so `data` may be freed once it returns; from a finalizer or a
   hook (which may be that run) it does not wait. */
void bgc_post_gc_hook_remove(bgc_post_gc_hook *hook);

/* MARK: Foreign memory */

/* The window of an allocation whose collection window is not known. */
#define BGC_NO_WINDOW UINT64_MAX

/* Records `bytes` of memory allocated outside the GC heap (malloc'd by C
   code, owned by GC objects): the account the collector's trigger follows,
   shared with Swift's ForeignMemory. When the foreign bytes added since the
   last collection pass the budget (by default max(8 MiB, 0.6 x the heap)),
   a collection runs, inside this call by default; no finalizer or hook runs
   inside it. The window it was recorded in goes to *window (when not NULL):
   give it back to bgc_unregister_allocation.
   Returns BGC_SUCCESS, or BGC_EOVERFLOW if the live count would pass
   PTRDIFF_MAX (nothing recorded).
   The corresponding Swift function is ForeignMemory.add; Guile's is
   scm_gc_register_allocation. */
int bgc_register_allocation(size_t bytes, uint64_t *window);

/* Records `bytes` of foreign memory freed; never collects. Freed in the
   window it was recorded in (no collection in between), it also comes off
   the bytes counted towards the next collection; BGC_NO_WINDOW for
   unknown. Returns BGC_SUCCESS, or BGC_EINVAL if more would be removed than
   is live (nothing changes).
   The corresponding Swift function is ForeignMemory.remove. */
int bgc_unregister_allocation(size_t bytes, uint64_t window);

/* The foreign-memory account now (shared with Swift's ForeignMemory). */
typedef struct bgc_foreign_statistics {
    /* Bytes registered and not yet unregistered. */
    size_t live_bytes;
    /* Allocations registered and not yet unregistered. */
    size_t live_objects;
    /* Net bytes registered since the last collection (floored at 0). */
    size_t bytes_since_collection;
    /* Collections the account ran or asked for. */
    uint64_t collections_requested;
    /* The byte budget now: max(floor, heap x fraction); 0 when the policy
       has no byte rule. */
    size_t byte_budget;
} bgc_foreign_statistics;

/* Fills *statistics. Returns BGC_SUCCESS, or BGC_EINVAL for NULL. Any
   thread, registered or not; never starts the library.
   The corresponding Swift property is ForeignMemory.statistics. */
int bgc_get_foreign_statistics(bgc_foreign_statistics *statistics);

/* MARK: Allocator hooks for C libraries */

/* A counting malloc family: malloc'd memory, each block reported to the
   foreign-memory account (bgc_register_allocation) while it lives, so the
   collector runs as often as the memory behind GC objects requires. For
   the per-object allocator hooks of C libraries whose objects GC objects
   own (and free in a finalizer): zlib's zalloc/zfree, PCRE2's general
   context, libxml2's xmlMemSetup. Blocks are 16-byte aligned and carry a
   16-byte header; free them only with bgc_counted_free (or realloc them
   with bgc_counted_realloc). Any thread: an allocation reports to the
   account through bgc_register_allocation, so, like every function here,
   it registers the calling thread and starts the library if needed.
   Allocation returns NULL with errno ENOMEM when malloc refuses or the
   count would overflow. */
void *bgc_counted_malloc(size_t size);
void *bgc_counted_calloc(size_t count, size_t size);
/* As realloc: NULL allocates; size 0 frees and returns NULL. */
void *bgc_counted_realloc(void *block, size_t size);
/* NULL does nothing. */
void bgc_counted_free(void *block);
/* NULL with errno EINVAL for `string` NULL. */
char *bgc_counted_strdup(const char *string);

/* zlib's alloc_func and free_func (z_stream's zalloc and zfree; `opaque`
   is ignored). */
void *bgc_zlib_alloc(void *opaque, unsigned items, unsigned size);
void bgc_zlib_free(void *opaque, void *address);

/* PCRE2's general-context functions (pcre2_general_context_create;
   `data` is ignored). */
void *bgc_pcre2_malloc(size_t size, void *data);
void bgc_pcre2_free(void *block, void *data);

/* GMP's memory functions (mp_set_memory_functions), counting: limbs in
   malloc'd memory, reported to the foreign-memory account. Safe beside any
   other user of GMP in the process. GMP cannot take NULL back: when memory
   runs out these print a message naming the size and abort. */
void *bgc_gmp_counted_alloc(size_t size);
void *bgc_gmp_counted_realloc(void *block, size_t old_size, size_t new_size);
void bgc_gmp_counted_free(void *block, size_t size);

/* GMP's memory functions, collected: limbs on the GC heap (pointer-free),
   so a number dropped without mpz_clear is collected. The hooks are
   process-wide, so the rule binds every GMP user in the process, libraries
   included: every mpz_t, mpq_t and mpf_t must live where the collector
   looks (a registered thread's stack, a scanned GC object, a root); limbs
   of a number kept in malloc'd memory are freed under it. GMP cannot take
   NULL back: when the heap limit is reached these print a message naming
   the size and abort. */
void *bgc_gmp_collected_alloc(size_t size);
void *bgc_gmp_collected_realloc(void *block, size_t old_size, size_t new_size);
void bgc_gmp_collected_free(void *block, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* BGC_H */
