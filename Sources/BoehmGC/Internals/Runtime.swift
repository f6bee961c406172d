import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The started collector: made once, on first use, by whichever thread gets
/// there first.
///
/// Not a Swift lazy global: a fork while another thread is inside such an
/// initialisation leaves the child waiting for ever on it. The runtime is
/// made under a lock of the C shim that fork takes first, and making it also
/// makes every other process-wide object of the module, so no fork can copy
/// one half-made.
internal final class Runtime: Sendable {
    static var shared: Runtime {
        let instance = shim_runtime() ?? shim_runtimeStart { Unmanaged.passRetained(Runtime()).toOpaque() }
        return Unmanaged<Runtime>.fromOpaque(instance!).takeUnretainedValue()
    }

    /// Starts the collector if it has not started: one load when it has.
    @inline(__always)
    static func start() {
        if shim_runtime() == nil { _ = shared }
    }

    let configuration: GC.Configuration
    let finalizers: FinalizerRunner
    /// Held while a process-wide object is made (see ``ProcessWide``).
    let making = Lock(())

    private init() {
        let configuration = ConfigurationStore.shared.seal()
        self.configuration = configuration
        // C code may have started libgc through gc.h first; every setting
        // here applies after its start too (see the C shim's cgc_init).
        let adopting = libgc_isStarted()
        if let divisor = configuration.freeSpaceDivisor {
            libgc_setFreeSpaceDivisor(divisor)
        }
        let heapLimit = HeapLimit.starting(configuration)
        if let heapLimit {
            if adopting { libgc_setMaxHeapSizeUnderLock(heapLimit) } else { libgc_setMaxHeapSize(heapLimit) }
        }
        // Finalizers never run inside an allocation: only on the finalizer
        // thread or at GC.runFinalizers().
        libgc_setFinalizeOnDemand(true)
        // An allocation that cannot be satisfied returns NULL, which the
        // Swift layer turns into GCError.outOfMemory, instead of aborting.
        libgc_setOutOfMemoryReturnsNull()
        for pattern in configuration.unscannedModules {
            precondition(shim_addUnscannedModule(pattern), "cannot record unscanned module \(pattern)")
        }
        precondition(shim_init(), "libgc refused to register the thread that starts the collector")
        if case .generational(let fullEvery) = configuration.collections {
            libgc_enableGenerationalMode(fullEvery: fullEvery)
        }
        // Every process-wide object of the module, made now (see above).
        AfterFork.prepare()
        HookRecord.prepare()
        HeapGrowth.prepare()
        HeapLimit.prepare(heapLimit)
        ForeignResourceCounters.prepare()
        Accountant.prepare()
        shim_setForkChildHandler { AfterFork.runInChild() }
        if let initial = configuration.initialHeapSize {
            let current = libgc_heapSize()
            if initial > current { _ = libgc_expandHeap(by: initial - current) }
        }
        shim_setFinalizerHandler { object, data in
            guard let object, let data else { return }
            Unmanaged<ClosureFinalizer>.fromOpaque(data).takeRetainedValue().run(object: object)
        }
        finalizers = FinalizerRunner(mode: configuration.finalizerMode)
    }
}

/// Every public entry point calls this first: starts the collector on first
/// use and registers the calling thread if it is new.
@usableFromInline
internal func enterCollector() {
    Runtime.start()
    if !shim_currentThreadIsRegistered() { registerCurrentThreadSlow() }
}

@inline(never)
private func registerCurrentThreadSlow() {
    precondition(shim_registerCurrentThread(), "libgc refused to register this thread")
}
