import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The process's ports: settings, the open-ports table, flushing and counters.
///
/// Every open port, input or output, is registered in one weak-keyed table,
/// the open-ports table (a `ForeignResourceRegistry` of `BoehmGC`). A port
/// dropped unclosed is released by the table's vacuum after the collection
/// that finds its GC object unreachable; no libgc finalizer is registered
/// per port. ``flushAll()`` flushes every output file port in it that is
/// still open (Guile's `flush-all-ports`). At process exit (an `atexit`
/// handler), a vacuum first releases the ports already collected, then
/// every output port still open is ended (its encoder back in the initial
/// state, as at close) and flushed.
///
/// The ports' state (the settings, sealed; the table; the exit handler) is
/// made with the first port opened, which also starts the collector if it
/// has not started. ``flushAll()``, ``vacuum()`` and ``statistics`` make
/// nothing: before the first port they find nothing to do and count zero.
/// See <doc:DroppedPortsAndTheOpenPortsTable>.
public enum Ports {
    /// Where ports get their iconv converters.
    ///
    /// See <doc:PooledAndPerPortConverters>.
    public enum ConverterPolicy: Sendable, Equatable {
        /// From a pool per encoding and direction (the default).
        ///
        /// A port of a stateless encoding (ISO-8859-x, UTF-16LE, SHIFT_JIS,
        /// ...) borrows a converter for each write or read and holds none in
        /// between; a port of a stateful one (ISO-2022-*, UTF-7, UTF-16 and
        /// UTF-32 with a byte-order mark) takes one at its first write or
        /// read and gives it back, returned to its initial state, at close
        /// or when the collector finds the port dropped (a converter that
        /// would not behave as a new one after the reset, such as a UTF-16
        /// decoder, which keeps the byte order of the last byte-order mark,
        /// is closed instead). A dropped port of a stateless encoding thus
        /// holds no iconv memory at all (and a UTF-8 port never has a
        /// converter: it validates and copies). Up to 64 idle converters are
        /// kept per encoding and direction (~33 kB of malloc each with
        /// glibc 2.36), not counted as any port's foreign bytes.
        case pooled
        /// One converter per port, opened with the port and closed with it.
        ///
        /// The converter is opened (`iconv_open`) when the port opens, and
        /// closed (`iconv_close`) when it is closed or when the collector
        /// finds it dropped: every dropped port holds ~33 kB of iconv memory
        /// until then, the "dark matter" the port-churn soak measures. UTF-8
        /// ports still have none.
        case perPort
    }

    /// Process-wide settings of the ports.
    ///
    /// They are fixed when the ports' state is made: by the first port
    /// opened.
    public struct Configuration: Sendable, Equatable {
        /// How the open-ports table keeps its entries and when ports dropped
        /// unclosed are released: a weak table vacuumed after every
        /// collection (`.weakTable(.eager)`, the default), or, for the
        /// soak's lazy configuration (the old leak), only when the table is
        /// next used or ``Ports/vacuum()`` runs (`.weakTable(.lazyOnly)`);
        /// or the seed's design, a libgc disappearing link per port
        /// vacuumed from a resurrecting finalizer (`.disappearingLinks`, the
        /// soak's `seed`).
        package var openPortsTable: ForeignResourceRegistry.Design
        /// Whether ports report the foreign bytes they hold to `ForeignMemory`
        /// (true by default).
        ///
        /// Reported, the bytes make the collector run sooner when dropped
        /// ports pile up (the trigger policy is `BoehmGC`'s
        /// `ForeignMemory.configure(_:)`): their buffers and Swift objects
        /// from open, a converter while they hold one, and their buffers'
        /// growth.
        public var accountsForeignMemory: Bool
        /// Where ports get their converters: ``ConverterPolicy/pooled`` (the
        /// default) or ``ConverterPolicy/perPort``.
        public var converters: ConverterPolicy

        /// Settings; each omitted one is the default.
        ///
        /// - Parameters:
        ///   - accountsForeignMemory: Whether ports report their foreign bytes
        ///     to `ForeignMemory` (default true).
        ///   - converters: Where ports get their converters (default
        ///     ``Ports/ConverterPolicy/pooled``).
        public init(accountsForeignMemory: Bool = true, converters: ConverterPolicy = .pooled) {
            self.init(
                openPortsTable: .weakTable(.eager), accountsForeignMemory: accountsForeignMemory,
                converters: converters)
        }

        /// Settings with a vacuum policy (tests and the soak).
        package init(
            vacuum: GCWeakTable.VacuumPolicy, accountsForeignMemory: Bool = true, converters: ConverterPolicy = .pooled
        ) {
            self.init(
                openPortsTable: .weakTable(vacuum), accountsForeignMemory: accountsForeignMemory,
                converters: converters)
        }

        /// Settings with an open-ports table of the given design (the soak).
        package init(
            openPortsTable: ForeignResourceRegistry.Design, accountsForeignMemory: Bool = true,
            converters: ConverterPolicy = .pooled
        ) {
            self.openPortsTable = openPortsTable
            self.accountsForeignMemory = accountsForeignMemory
            self.converters = converters
        }
    }

    /// Sets the ports' settings.
    ///
    /// - Warning: Only before the ports' state is made: before the first
    ///   port is opened.
    ///
    /// - Parameter configuration: The settings for the life of the process.
    /// - Throws: `GCError.alreadyInitialized` once the ports' state was made
    ///   (the settings stay as they were).
    public static func configure(_ configuration: Configuration) throws(GCError) {
        try pendingConfiguration.set(configuration)
    }

    /// The ports' settings.
    ///
    /// Those in force once the ports' state fixed them, those set so far
    /// before that. Reading them fixes nothing.
    public static var configuration: Configuration { pendingConfiguration.value }

    /// Flushes every output file port that is still open (Guile's
    /// `flush-all-ports`).
    ///
    /// Visits every open output port registered in the open-ports table
    /// that holds something to release (every file port; a string port
    /// once it holds a converter, a malloc'd buffer or held bytes); a string
    /// port has nothing to flush. It does not end their output: a
    /// stateful encoder stays in its state, so later writes go on where
    /// they were. Errors are counted in ``Statistics/flushFailures``, not
    /// thrown. Each port is flushed under its own lock, one at a time, so
    /// the call waits for a write in progress on another thread. Ports
    /// opened or closed meanwhile may be missed, and so are ports that
    /// another thread was using at a fork (in the child). Before the first
    /// port it visits nothing and makes nothing.
    ///
    /// - Returns: How many open output ports were visited, string ports
    ///   that hold something to release included.
    ///
    /// The corresponding C function is `write`.
    @discardableResult
    public static func flushAll() -> Int {
        guard let state = existingState else { return 0 }
        return state.registry.forEachOpenHandle(OutputPortState.self) { port in
            do {
                try port.pointee.flush()
            } catch {
                state.flushFailures.add(1, ordering: .relaxed)
            }
        }
    }

    /// Runs the open-ports table's vacuum now.
    ///
    /// Ports the last collections found unreachable are released: output
    /// ports ended and flushed, converters given back, owned descriptors
    /// closed, foreign bytes given back. The vacuum runs after every
    /// collection on its own (on the post-GC hook thread) and at the table's
    /// next insert; the call is for a caller that wants the dropped ports
    /// released before then. It does not collect: a port dropped since the
    /// last collection waits for the next one. Before the first port it
    /// does nothing.
    ///
    /// The corresponding C functions are `iconv`, `write`, `iconv_close`
    /// and `close`.
    public static func vacuum() {
        existingState?.registry.vacuum()
    }

    /// The ports' counters, from the start of the process.
    public struct Statistics: Sendable, Equatable {
        /// Ports opened, input and output.
        public var opened: Int
        /// Ports closed by ``OutputPort/close()`` or ``InputPort/close()``.
        public var closedExplicitly: Int
        /// Ports released by the open-ports table's vacuum after they were
        /// collected unclosed.
        public var releasedByCollector: Int
        /// Flushes that failed and were not thrown: in ``Ports/flushAll()``,
        /// at process exit, and when a port was released (by the vacuum, or
        /// by ``OutputPort/close()``, which tries the flush once more after
        /// its own failed and was thrown).
        public var flushFailures: Int
        /// Incomplete UTF-8 sequences held by output ports with
        /// ``InvalidInputPolicy/error`` that were dropped when the port was
        /// ended at process exit or by the collector (``OutputPort/close()``
        /// throws instead).
        public var discardedIncompleteInput: Int
        /// Ports in the open-ports table: open, or collected and awaiting
        /// the vacuum.
        public var registered: Int
        /// The open-ports table's own counters (capacity, live entries, dead
        /// entries awaiting vacuum, vacuums): `BoehmGC`'s
        /// `GCWeakTable.Statistics`.
        public var table: GCWeakTable.Statistics
    }

    /// The counters now.
    ///
    /// Each counter is read on its own (relaxed atomics), so counters read
    /// while ports open and close may disagree by a few. Before the first
    /// port every counter is zero (the read makes nothing and fixes no
    /// setting).
    public static var statistics: Statistics {
        guard let state = existingState else {
            return Statistics(
                opened: 0, closedExplicitly: 0, releasedByCollector: 0, flushFailures: 0,
                discardedIncompleteInput: 0, registered: 0, table: .none)
        }
        let registry = state.registry
        let resources = registry.resourceStatistics
        return Statistics(
            opened: resources.opened,
            closedExplicitly: resources.closedExplicitly,
            releasedByCollector: resources.releasedByCollector,
            flushFailures: state.flushFailures.load(ordering: .relaxed),
            discardedIncompleteInput: state.discardedIncompleteInput.load(ordering: .relaxed),
            registered: registry.count,
            table: registry.tableStatistics)
    }

    /// Test hook: idle converters in the pool of `encoding` for output
    /// ports (`decoding` false) or input ports; 0 before the pool exists.
    package static func idleConverterCount(_ encoding: String, decoding: Bool = false) -> Int {
        existingState?.converterPools.existing(encoding, decoding ? .decoding : .encoding)?.idleCount ?? 0
    }

    /// Bytes of a string port's first buffer, in its record (GC memory):
    /// a short write is encoded there, and the buffer moves to malloc'd
    /// memory (256 bytes, then doubling) when the output outgrows it.
    static let stringPortInlineCapacity = 16

    /// Buffer capacities accepted by the ports, in bytes: 1 byte to 1 GiB
    /// (2^30).
    public static let bufferCapacityRange = 1...(1 << 30)

    /// Checks a buffer capacity argument.
    static func checkBufferCapacity(_ capacity: Int) throws(PortError) {
        guard bufferCapacityRange.contains(capacity) else {
            throw .invalidArgument("bufferCapacity \(capacity) is outside 1...\(bufferCapacityRange.upperBound)")
        }
    }

    /// Checks a file port's descriptor and buffer capacity arguments.
    static func checkFileArguments(descriptor: Int32, bufferCapacity: Int) throws(PortError) {
        guard descriptor >= 0 else { throw .invalidArgument("descriptor \(descriptor) is negative") }
        try checkBufferCapacity(bufferCapacity)
    }

    /// The ports' state, made with the first port (inside the library's
    /// gate, owned by `BoehmGC`'s runtime: see ``ProcessWide``).
    ///
    /// - Throws: `GCError.outOfMemory(byteCount:)` if the open-ports table
    ///   cannot be allocated; nothing is made then, and the next port tries
    ///   again.
    static func state() throws(GCError) -> PortsState {
        try ProcessWide.object(in: .ports) { () throws(GCError) in try PortsState() }
    }

    /// The ports' state if a port made it; nil before (making nothing).
    static var existingState: PortsState? { ProcessWide.existingObject(in: .ports, as: PortsState.self) }

    /// The settings until the ports' state seals them, kept with the
    /// package's other pre-start settings (`BoehmGC`'s ``Settings``).
    fileprivate static var pendingConfiguration: SealedSetting<Configuration> {
        Settings.shared.setting(for: .ports, initial: Configuration())
    }
}

/// The ports' state, created with the first port: every process-wide value
/// of the module.
internal final class PortsState: Sendable {
    let configuration: Ports.Configuration
    let registry: ForeignResourceRegistry
    let kinds = PortKinds()
    /// The converter pools, by encoding and direction.
    let converterPools = ConverterPools()
    /// Flushes that failed and were not thrown (``Ports/Statistics/flushFailures``).
    let flushFailures = Atomic<Int>(0)
    /// Incomplete input dropped at exit or by the collector
    /// (``Ports/Statistics/discardedIncompleteInput``).
    let discardedIncompleteInput = Atomic<Int>(0)
    /// The pool a port was last opened with (ports of one encoding tend to
    /// follow each other): the address of an immortal pool, or 0.
    private let lastPool = Atomic<UInt>(0)

    /// - Throws: `GCError.outOfMemory(byteCount:)` if the open-ports table
    ///   cannot be allocated (the settings stay sealed).
    init() throws(GCError) {
        configuration = Ports.pendingConfiguration.seal()
        registry = try ForeignResourceRegistry(design: configuration.openPortsTable)
        atexit { flushPortsAtExit() }
    }

    /// The converter pool of `encoding` in `direction`, made on first use.
    ///
    /// - Throws: ``PortError/unknownEncoding(_:)`` if iconv cannot convert
    ///   between `encoding` and UTF-8 in that direction.
    @inline(__always)
    func pool(_ encoding: String, _ direction: ConversionDirection) throws(PortError) -> ConverterPool {
        if let last = UnsafeRawPointer(bitPattern: lastPool.load(ordering: .acquiring)) {
            let pool = Unmanaged<ConverterPool>.fromOpaque(last).takeUnretainedValue()
            if pool.direction == direction && pool.encoding == encoding { return pool }
        }
        let pool = try converterPools.named(encoding, direction)
        // Pools are never freed, so the slot needs no reference of its own.
        lastPool.store(UInt(bitPattern: Unmanaged.passUnretained(pool).toOpaque()), ordering: .releasing)
        return pool
    }
}

/// The exit handler: release the ports already collected, then end (back to
/// the initial state) and flush every output port still open.
private func flushPortsAtExit() {
    guard let state = Ports.existingState else { return }
    state.registry.vacuum()
    state.registry.forEachOpenHandle(OutputPortState.self) { port in
        do {
            try port.pointee.finish(reportsHeld: false)
            try port.pointee.flush()
        } catch {
            state.flushFailures.add(1, ordering: .relaxed)
        }
    }
}
