import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The process's ports: settings, the open-ports table, flushing and counters.
///
/// Every open port is registered in one weak-keyed table (a
/// ``ForeignResourceRegistry``). ``flushAll()`` flushes every file port in it
/// that is still open; it also runs at process exit (an `atexit` handler
/// installed with the first port), after a vacuum that closes (and so
/// flushes) ports already collected.
public enum Ports {
    /// Process-wide settings of the ports, fixed by the first port opened.
    public struct Configuration: Sendable, Equatable {
        /// When ports dropped unclosed are released: by a vacuum of the
        /// open-ports table after every collection (`.eager`, the default),
        /// or only when the table is next used or ``Ports/vacuum()`` runs
        /// (`.lazyOnly`).
        public var vacuum: GCWeakTable.VacuumPolicy
        /// Whether ports report their converter and buffer bytes to
        /// ``ExternalMemory`` (so dropped ports make the collector run
        /// sooner; the trigger policy is ``ExternalMemory/configure(_:)``'s).
        public var accountsForeignMemory: Bool
        /// Whether ports writing a stateless encoding (no byte-order mark,
        /// no shift states: ISO-8859-x, UTF-8, UTF-16LE, ...) borrow a
        /// converter from a per-encoding pool for each write instead of
        /// owning one. A port then holds no iconv memory between writes, so
        /// a dropped port leaves only its buffer behind. Off by default;
        /// ports of stateful encodings (UTF-16 with BOM, ISO-2022-JP) always
        /// own theirs. Up to 64 idle converters per
        /// encoding are kept (~33 kB each), not counted as foreign bytes.
        public var sharesConverters: Bool

        public init(
            vacuum: GCWeakTable.VacuumPolicy = .eager, accountsForeignMemory: Bool = true,
            sharesConverters: Bool = false
        ) {
            self.vacuum = vacuum
            self.accountsForeignMemory = accountsForeignMemory
            self.sharesConverters = sharesConverters
        }
    }

    /// Sets the ports' settings.
    ///
    /// - Warning: Only before the first port is opened.
    /// - Throws: ``GCError/alreadyInitialized`` once a port was opened.
    public static func configure(_ configuration: Configuration) throws(GCError) {
        try pendingConfiguration.set(configuration)
    }

    /// The settings in force (fixing them if no port was opened yet).
    public static var configuration: Configuration { state.configuration }

    /// Flushes every file port that is still open, registered in the
    /// open-ports table. Errors are counted in
    /// ``Statistics/flushFailures``, not thrown.
    ///
    /// - Returns: How many open ports were visited.
    @discardableResult
    public static func flushAll() -> Int {
        state.registry.forEachOpen(PortCore.self) { core in
            do {
                try core.flush()
            } catch {
                PortCounters.flushFailures.add(1, ordering: .relaxed)
            }
        }
    }

    /// Runs the open-ports table's vacuum now: ports the last collection
    /// found unreachable are flushed and closed.
    public static func vacuum() {
        state.registry.vacuum()
    }

    /// The ports' counters.
    public struct Statistics: Sendable, Equatable {
        /// Ports opened.
        public var opened: Int
        /// Ports closed by ``OutputPort/close()``.
        public var closedExplicitly: Int
        /// Ports released by the open-ports table's vacuum after they were
        /// collected unclosed.
        public var releasedByCollector: Int
        /// Flushes (at close, vacuum or ``Ports/flushAll()``) that failed.
        public var flushFailures: Int
        /// Ports in the open-ports table: open, or collected and awaiting
        /// the vacuum.
        public var registered: Int
        /// The open-ports table's own counters (capacity, live entries, dead
        /// entries awaiting vacuum, vacuums).
        public var table: GCWeakTable.Statistics
    }

    /// The counters now.
    public static var statistics: Statistics {
        let registry = state.registry
        let released = PortCounters.released.load(ordering: .relaxed)
        let closed = PortCounters.closedExplicitly.load(ordering: .relaxed)
        return Statistics(
            opened: PortCounters.opened.load(ordering: .relaxed),
            closedExplicitly: closed,
            releasedByCollector: max(0, released - closed),
            flushFailures: PortCounters.flushFailures.load(ordering: .relaxed),
            registered: registry.count,
            table: registry.tableStatistics)
    }

    /// Initial buffer of a string port, counted as foreign bytes.
    static let stringPortInitialCapacity = 256

    /// Malloc bytes of the Swift objects behind an open port (the
    /// OutputPort, its ForeignResource and core, PortCore, the registry's
    /// entry), counted as foreign bytes with the converter and the buffer:
    /// 516 bytes of malloc per open ISO-8859-15 string port besides its
    /// converter (mallinfo2 around 1,000 opens), of which 256 are the buffer.
    static let portObjectBytes = 256

    static var state: PortsState { PortsState.shared }

    fileprivate static let pendingConfiguration = SealedSetting(Configuration())
}

/// The ports' state, created with the first port.
internal final class PortsState: Sendable {
    static let shared = PortsState()

    let configuration: Ports.Configuration
    let registry: ForeignResourceRegistry
    var release: ForeignResource<PortCore>.Release { .registry(registry) }

    private init() {
        configuration = Ports.pendingConfiguration.seal()
        do {
            registry = try ForeignResourceRegistry(vacuum: configuration.vacuum)
        } catch {
            preconditionFailure("cannot create the open-ports table: \(error)")
        }
        atexit { flushPortsAtExit() }
    }
}

/// The exit handler: close (and so flush) the ports already collected, then
/// flush every port still open.
private func flushPortsAtExit() {
    let state = PortsState.shared
    state.registry.vacuum()
    Ports.flushAll()
}

internal enum PortCounters {
    static let opened = Atomic<Int>(0)
    static let closedExplicitly = Atomic<Int>(0)
    static let released = Atomic<Int>(0)
    static let flushFailures = Atomic<Int>(0)
}
