#if canImport(Glibc)
    import Glibc
#endif

// The Swift half of the C API (the BoehmGCForC target, `bgc.h`): the parts of
// it whose mechanism lives in Swift (the start, the configuration, the
// foreign-memory accounting, post-GC hooks, the finalizer batch). Each is a C
// symbol of its own, declared in Sources/BoehmGCForC/swift_entry.h; a
// signature here must match its declaration there (the C interop tests call
// every one). Status codes are the negated errno values bgc.h names.

// Computed, not stored: a stored global is made lazily, on first use.
private var statusInvalid: Int32 { -EINVAL }
private var statusAlready: Int32 { -EALREADY }
private var statusOverflow: Int32 { -EOVERFLOW }

/// `bgc_init`: starts the library as the first use of any Swift API does.
@_cdecl("cgc_swift_start")
func cEntryStart() {
    Runtime.start()
}

/// `bgc_configure`: the fields of `bgc_configuration`, for ``GC/configure(_:)``.
///
/// Sizes of 0 mean "libgc's default"; `fullEvery` 0 means full collections
/// only; `modules` nil keeps the default list.
@_cdecl("cgc_swift_configure")
func cEntryConfigure(
    initialHeapSize: Int, maximumHeapSize: Int, maximumHeapShare: Double, freeSpaceDivisor: Int,
    explicitFinalizers: Int32,
    fullEvery: Int32, modules: UnsafePointer<UnsafePointer<CChar>?>?, moduleCount: Int
) -> Int32 {
    var configuration = GC.Configuration(
        initialHeapSize: initialHeapSize == 0 ? nil : initialHeapSize,
        freeSpaceDivisor: freeSpaceDivisor == 0 ? nil : freeSpaceDivisor,
        maximumHeapSize: maximumHeapSize == 0 ? nil : maximumHeapSize,
        maximumHeapShare: maximumHeapShare == 0 ? nil : maximumHeapShare,
        finalizerMode: explicitFinalizers != 0 ? .explicitOnly : .dedicatedThread,
        collections: fullEvery == 0 ? .full : .generational(fullEvery: Int(fullEvery)))
    if let modules {
        var patterns: [String] = []
        for index in 0..<moduleCount {
            guard let pattern = modules[index] else { return statusInvalid }
            patterns.append(String(cString: pattern))
        }
        configuration.unscannedModules = patterns
    }
    do {
        try GC.configure(configuration)
        return 0
    } catch .alreadyInitialized {
        return statusAlready
    } catch {
        return statusInvalid
    }
}

/// `bgc_set_maximum_heap_size`: 0 removes the limit.
@_cdecl("cgc_swift_set_maximum_heap_size")
func cEntrySetMaximumHeapSize(_ bytes: Int) -> Int32 {
    do {
        try GC.setMaximumHeapSize(bytes == 0 ? nil : bytes)
        return 0
    } catch {
        return statusInvalid
    }
}

/// `bgc_malloc` and its kin after libgc returned NULL: a collection, then the allocation again.
///
/// Rationed as Swift's allocations are (``HeapLimit/collectingOnce(_:)``).
/// `kind`: 0 scanned, 1 pointer-free, 2 uncollectable, 3 a reallocation of
/// `object`.
@_cdecl("cgc_swift_allocate_after_failure")
func cEntryAllocateAfterFailure(_ size: Int, _ kind: Int32, _ object: UnsafeMutableRawPointer?)
    -> UnsafeMutableRawPointer?
{
    HeapLimit.collectingOnce {
        switch kind {
        case 1: return libgc_malloc(size, pointerFree: true)
        case 2: return libgc_mallocUncollectable(size)
        case 3: return object.flatMap { libgc_realloc($0, size) }
        default: return libgc_malloc(size, pointerFree: false)
        }
    }
}

/// `bgc_run_finalizers`.
@_cdecl("cgc_swift_run_finalizers")
func cEntryRunFinalizers() -> Int {
    GC.runFinalizers()
}

/// `bgc_register_allocation`: records `bytes` (one object); the window goes
/// to `window` when it is not nil.
@_cdecl("cgc_swift_register_allocation")
func cEntryRegisterAllocation(_ bytes: Int, _ window: UnsafeMutablePointer<UInt64>?) -> Int32 {
    do {
        let allocation = try ForeignMemory.add(byteCount: bytes)
        window?.pointee = allocation.window
        return 0
    } catch {
        return statusOverflow
    }
}

/// `bgc_unregister_allocation`: `UInt64.max` for a window not known.
@_cdecl("cgc_swift_unregister_allocation")
func cEntryUnregisterAllocation(_ bytes: Int, _ window: UInt64) -> Int32 {
    do {
        try ForeignMemory.remove(.init(byteCount: bytes, objects: 1, window: window))
        return 0
    } catch {
        return statusInvalid
    }
}

/// `bgc_get_foreign_statistics`: five fields, in the order of
/// `bgc_foreign_statistics`.
@_cdecl("cgc_swift_foreign_statistics")
func cEntryForeignStatistics(_ fields: UnsafeMutablePointer<Int>) {
    let statistics = ForeignMemory.statistics
    fields[0] = statistics.liveBytes
    fields[1] = statistics.liveObjects
    fields[2] = statistics.bytesSinceCollection
    fields[3] = statistics.collectionsRequested
    fields[4] = statistics.byteBudget ?? 0
}

/// A C function and its data, as a post-GC hook's body calls them.
private struct CHookBody: @unchecked Sendable {
    // The function is C's and the data opaque to Swift: C code owns both and
    // promised (bgc.h) that the function may run on any thread.
    let function: @convention(c) (UInt64, UnsafeMutableRawPointer?) -> Void
    let data: UnsafeMutableRawPointer?
}

/// `bgc_post_gc_hook_add`: a retained ``PostGCHook`` without an owner, or
/// nil if it could not be made.
@_cdecl("cgc_swift_hook_add")
func cEntryHookAdd(
    _ function: @convention(c) (UInt64, UnsafeMutableRawPointer?) -> Void, _ data: UnsafeMutableRawPointer?
) -> UnsafeMutableRawPointer? {
    let body = CHookBody(function: function, data: data)
    guard let hook = try? PostGCHook({ event in body.function(event.collection, body.data) }) else { return nil }
    return Unmanaged.passRetained(hook).toOpaque()
}

/// `bgc_post_gc_hook_remove`: cancels the hook, waits for a run in progress
/// unless `wait` is 0 (called from a finalizer or hook, which may be that
/// run), and releases it.
@_cdecl("cgc_swift_hook_remove")
func cEntryHookRemove(_ hook: UnsafeMutableRawPointer, _ wait: Int32) {
    let hook = Unmanaged<PostGCHook>.fromOpaque(hook).takeRetainedValue()
    if wait != 0 { hook.cancelWaitingForRuns() } else { hook.cancel() }
}
