import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The started collector, and the one owner of the library's process-wide
/// state: made once, on first use, by whichever thread gets there first.
///
/// Every mutable process-wide value of the module is a stored property of
/// the runtime (or of an object it holds): the hooks, the heap limit, the
/// heap-growth wakeups, the foreign-resource counters, the accountant (made
/// at the first report, under ``making``), the background threads
/// (``BackgroundThreads``, restarted here in a forked child) and the
/// objects of the package's other modules (``ProcessWide``). Settings that
/// exist before the start live in ``Settings``. A new global or thread is
/// added here; the house-rules test fails on a stored static or a thread
/// created anywhere else in Sources/.
///
/// Not a Swift lazy global: a fork while another thread is inside such an
/// initialisation leaves the child waiting for ever on it. The runtime is
/// made under a lock of the C shim that fork takes first, and making it
/// makes everything it holds, so no fork can copy one half-made.
internal final class Runtime: Sendable {
    static var shared: Runtime {
        let instance = shim_runtime() ?? shim_runtimeStart { Unmanaged.passRetained(Runtime()).toOpaque() }
        return Unmanaged<Runtime>.fromOpaque(instance!).takeUnretainedValue()
    }

    /// The runtime if it started; nil before (starting nothing).
    @inline(__always)
    static var existing: Runtime? {
        shim_runtime().map { Unmanaged<Runtime>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Starts the collector if it has not started: one load when it has.
    @inline(__always)
    static func start() {
        if shim_runtime() == nil { _ = shared }
    }

    let configuration: GC.Configuration
    /// The library's background threads (the only place one is created).
    let threads = BackgroundThreads()
    let finalizers: FinalizerRunner
    /// The live post-GC hooks, in the order a pass runs them (see ``LiveHooks``).
    let hooks = Lock(LiveHooks())
    let heapLimit: HeapLimit
    let heapGrowth = HeapGrowth()
    let foreignResources = ForeignResourceCounters()
    /// The accountant's address, retained for ever (0 until the first
    /// report makes it: see ``accountant``).
    private let accountantAddress = Atomic<UInt>(0)
    /// Held while a lazily made member (the accountant) or a process-wide
    /// object of another module (see ``ProcessWide``) is made.
    let making = Lock(())

    private init() {
        let configuration = Settings.shared.collector.seal()
        self.configuration = configuration
        // C code may have started libgc through gc.h first; every setting
        // here applies after its start too (see the C shim's cgc_init).
        let adopting = libgc_isStarted()
        if let divisor = configuration.freeSpaceDivisor {
            libgc_setFreeSpaceDivisor(divisor)
        }
        let startingLimit = HeapLimit.starting(configuration)
        if let startingLimit {
            if adopting { libgc_setMaxHeapSizeUnderLock(startingLimit) } else { libgc_setMaxHeapSize(startingLimit) }
        }
        heapLimit = HeapLimit(starting: startingLimit)
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
        HeapGrowth.installCallback()
        shim_setForkChildHandler { Runtime.shared.restartInChild() }
        if let initial = configuration.initialHeapSize {
            let current = libgc_heapSize()
            if initial > current { _ = libgc_expandHeap(by: initial - current) }
        }
        shim_setFinalizerHandler { object, data in
            guard let object, let data else { return }
            Unmanaged<ClosureFinalizer>.fromOpaque(data).takeRetainedValue().run(object: object)
        }
        finalizers = FinalizerRunner(mode: configuration.finalizerMode, threads: threads)
    }

    /// The accountant, made by the first report (which seals
    /// ``Settings/accounting``), not at the start; one acquiring load after
    /// that.
    var accountant: Accountant {
        existingAccountant ?? makeAccountant()
    }

    /// The accountant if the first report made it; nil before.
    var existingAccountant: Accountant? {
        guard let address = UnsafeRawPointer(bitPattern: accountantAddress.load(ordering: .acquiring)) else {
            return nil
        }
        return Unmanaged<Accountant>.fromOpaque(address).takeUnretainedValue()
    }

    /// Inside the library's gate (the lock enters it), so a fork never
    /// copies the accountant half-made.
    @inline(never)
    private func makeAccountant() -> Accountant {
        enterCollector()
        return making.withLock { _ in
            if let accountant = existingAccountant { return accountant }
            let accountant = Accountant(threads: threads)
            accountantAddress.store(
                UInt(bitPattern: Unmanaged.passRetained(accountant).toOpaque()), ordering: .releasing)
            return accountant
        }
    }

    /// Called by the C shim in a forked child, on its only thread, once the
    /// shim's own state is reset: the members' resets, then every recorded
    /// background thread started again.
    private func restartInChild() {
        existingAccountant?.resetInChild()
        threads.restartInChild()
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
