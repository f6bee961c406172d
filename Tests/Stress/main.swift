// stress: every public type of the library used at once, from raw pthreads,
// Dispatch workers and Swift tasks, for a while; then the invariants,
// checked and printed. Exits 1 if one is broken (a crash is a signal).
//
//   swift run -c release stress --threads 8 --seconds 60
import ArgumentParser
import BoehmGC
import Dispatch
import GCPorts
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Stress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Use every public type of BoehmGC and GCPorts at once from pthreads, Dispatch and tasks.")

    @Option(help: "Workers, split between raw pthreads, Dispatch work items and Swift tasks.")
    var threads = 8

    @Option(help: "How long the workers run, in seconds.")
    var seconds = 10.0

    @Option(help: "A directory for the file ports' output (the files are removed afterwards).")
    var directory = "/tmp"

    @Flag(help: "Run the collector in libgc's generational mode (partial collections).")
    var generational = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard seconds > 0, seconds <= 86_400 else { throw ValidationError("--seconds must be in (0, 86400]") }
    }

    func run() async throws {
        if generational { try GC.configure(.init(collections: .generational())) }
        let world = try World(workers: threads, directory: directory)
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        print(
            "stress: \(threads) workers (pthreads, Dispatch, tasks) for \(seconds) s"
                + (generational ? ", generational mode" : ""))
        await startWorkers(world: world, deadline: deadline)
        let broken = world.finish()
        if broken > 0 { throw ExitCode(1) }
    }
}

/// Starts the workers, a third each as raw pthreads, Dispatch work items and
/// Swift tasks, and waits until every one has checked its data.
func startWorkers(world: World, deadline: ContinuousClock.Instant) async {
    await withTaskGroup(of: Void.self) { group in
        for id in 0..<world.workers {
            let worker = Worker(id: id, world: world, deadline: deadline)
            switch id % 3 {
            case 0:
                let box = Unmanaged.passRetained(worker)
                var thread = pthread_t()
                let status = pthread_create(
                    &thread, nil,
                    { raw in
                        Unmanaged<Worker>.fromOpaque(raw!).takeRetainedValue().run()
                        return nil
                    }, box.toOpaque())
                guard status == 0 else {
                    box.release()
                    world.report("worker \(id): pthread_create failed with \(status)")
                    world.finished.add(1, ordering: .releasing)
                    continue
                }
                pthread_detach(thread)
            case 1:
                DispatchQueue.global().async { worker.run() }
            default:
                group.addTask { worker.run() }
            }
        }
    }
    while world.finished.load(ordering: .acquiring) < world.workers {
        try? await Task.sleep(for: .milliseconds(5))
    }
}

/// What the workers share, and the checks at the end.
final class World: Sendable {
    let workers: Int
    let directory: String
    let tables: [GCWeakTable]
    /// Symbols interned by every worker from one space of names.
    let symbols: GCWeakSet
    let registry: ForeignResourceRegistry
    let monitor: MemoryPressureMonitor
    /// A hook watching a rooted owner: it must run once per collection.
    let hookOwner: GCRoot
    let hook: PostGCHook
    let startEpoch: UInt64
    let foreignBaseline: ForeignMemory.Statistics
    let resourcesBaseline: ForeignResources.Statistics

    let finished = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
    let finalizersSet = Atomic<Int>(0)
    let finalizersRun = Atomic<Int>(0)
    /// Ids of objects finalized, to catch one finalized twice.
    let finalized = Mutex<Set<Int>>([])
    let finalizedTwice = Atomic<Int>(0)
    let portsOpened = Atomic<Int>(0)
    let portsDropped = Atomic<Int>(0)
    let linesWritten = Atomic<Int>(0)
    let entriesChecked = Atomic<Int>(0)
    let operations = Atomic<Int>(0)

    init(workers: Int, directory: String) throws {
        self.workers = workers
        self.directory = directory
        GC.initialize()
        tables = try [GCWeakTable.Weakness.keys, .values, .keysAndValues].map { try GCWeakTable(weakness: $0) }
        symbols = try GCWeakSet()
        registry = try ForeignResourceRegistry()
        monitor = try MemoryPressureMonitor(
            .init(samplingInterval: .milliseconds(20), foreignBytes: { ForeignMemory.statistics.liveBytes }))
        hookOwner = try GCRoot(byteCount: 16)
        startEpoch = GC.collectionCount
        hook = try PostGCHook(owner: hookOwner) { _ in }
        foreignBaseline = ForeignMemory.statistics
        resourcesBaseline = ForeignResources.statistics
    }

    func report(_ failure: String) {
        failures.withLock { $0.append(failure) }
    }

    func path(of worker: Int) -> String { "\(directory)/gc-stress-\(getpid())-\(worker).txt" }

    /// Drops what the workers left, drains the collector and checks every
    /// invariant. Returns how many are broken.
    func finish() -> Int {
        for _ in 0..<4 {
            GC.collect()
            GC.runFinalizers()
        }
        registry.vacuum()
        Ports.vacuum()
        Ports.flushAll()
        monitor.stop()
        GC.runFinalizers()
        let collections = Int(GC.collectionCount - startEpoch)
        let foreign = ForeignMemory.statistics
        let resources = ForeignResources.statistics
        var checks: [(String, Bool, String)] = []
        let reported = failures.withLock { $0 }
        checks.append(
            (
                "live data intact (roots, table entries, interned symbols, weak references, string ports)",
                reported.isEmpty,
                reported.isEmpty
                    ? "\(entriesChecked.load(ordering: .relaxed)) entries and objects checked"
                    : reported.prefix(5).joined(separator: "; ")
            ))
        checks.append(
            (
                "post-GC hook ran once per collection", hook.runCount == collections,
                "\(hook.runCount) runs, \(collections) collections"
            ))
        let set = finalizersSet.load(ordering: .relaxed)
        let run = finalizersRun.load(ordering: .relaxed)
        let twice = finalizedTwice.load(ordering: .relaxed)
        checks.append(
            (
                "finalizers ran at most once each, never for more objects than had one", twice == 0 && run <= set,
                "\(run) of \(set) ran (\(percent(run, set))), \(twice) twice"
            ))
        // Resources still open (a dropped one a stale stack word keeps alive)
        // hold their bytes; all the others gave theirs back.
        let stillOpen = resources.open - resourcesBaseline.open
        let objectsBack = foreign.liveObjects - foreignBaseline.liveObjects == stillOpen
        checks.append(
            (
                "foreign bytes back to the baseline, but for resources still open", objectsBack && stillOpen <= 64,
                "\(foreign.liveBytes - foreignBaseline.liveBytes) bytes and "
                    + "\(foreign.liveObjects - foreignBaseline.liveObjects) objects above the baseline; "
                    + "\(stillOpen) resources still open of \(resources.opened - resourcesBaseline.opened)"
            ))
        let (expected, found, wrong) = checkFiles()
        checks.append(
            (
                "every line written to a file port is on disk, once", expected == found && wrong.isEmpty,
                "\(found) of \(expected) lines; \(portsOpened.load(ordering: .relaxed)) ports, "
                    + "\(portsDropped.load(ordering: .relaxed)) dropped unclosed"
                    + (wrong.isEmpty ? "" : "; \(wrong.prefix(3))")
            ))
        print("\(operations.load(ordering: .relaxed)) operations, \(collections) collections")
        var broken = 0
        for (name, ok, detail) in checks {
            print("\(ok ? "ok    " : "BROKEN") \(name): \(detail)")
            if !ok { broken += 1 }
        }
        print(broken == 0 ? "stress: every invariant holds" : "stress: \(broken) invariant(s) broken")
        return broken
    }

    /// Reads every worker's file: each line written must be there exactly
    /// once. Returns (lines expected, lines found, problems).
    func checkFiles() -> (Int, Int, [String]) {
        var found = 0
        var wrong: [String] = []
        var seen = Set<String>()
        for worker in 0..<workers {
            let path = self.path(of: worker)
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { continue }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            close(fd)
            unlink(path)
            // Lines end in "€\n": 0xA4 0x0A in ISO-8859-15.
            for line in bytes.split(separator: 0x0A) {
                found += 1
                guard line.last == 0xA4 else {
                    wrong.append("a line without its euro sign")
                    continue
                }
                let text = String(decoding: line.dropLast(), as: UTF8.self)
                if !seen.insert(text).inserted { wrong.append("\(text) twice") }
            }
        }
        return (linesWritten.load(ordering: .relaxed), found, wrong)
    }
}

func percent(_ part: Int, _ whole: Int) -> String {
    whole == 0 ? "-" : "\(part * 100 / whole) %"
}

/// One worker: rounds of mixed operations until the deadline, then a check
/// of everything it kept alive.
final class Worker: Sendable {
    let id: Int
    let world: World
    let deadline: ContinuousClock.Instant

    init(id: Int, world: World, deadline: ContinuousClock.Instant) {
        self.id = id
        self.world = world
        self.deadline = deadline
    }

    func run() {
        var state = WorkerState(id: id)
        var round = 0
        repeat {
            do {
                try state.round(round, world: world)
            } catch {
                world.report("worker \(id) round \(round): \(error)")
            }
            round += 1
        } while ContinuousClock.now < deadline
        state.checkAll(world: world)
        world.finished.add(1, ordering: .releasing)
    }
}

/// A worker's own data, on its own thread only.
struct WorkerState {
    let id: Int
    var sequence = 0
    /// Rooted objects holding (worker, sequence) in their first two words.
    var kept: [GCRoot] = []
    /// Per table: (key, value) pairs the worker keeps reachable.
    var live: [[(GCRoot, GCRoot)]] = [[], [], []]
    var weakReferences: [(GCWeakReference, GCRoot)] = []
    /// Symbols the worker keeps, with the number of their name.
    var symbols: [(Int, GCRoot)] = []
    var ports = 0

    init(id: Int) { self.id = id }

    mutating func tagged(_ byteCount: Int = 32) throws -> GCRoot {
        sequence += 1
        let root = try GCRoot(byteCount: max(16, byteCount))
        root.withUnsafeMutableBytes {
            $0.storeBytes(of: id, as: Int.self)
            $0.storeBytes(of: sequence, toByteOffset: 8, as: Int.self)
        }
        return root
    }

    static func tag(_ root: GCRoot) -> (Int, Int) {
        root.withUnsafeMutableBytes { ($0.load(as: Int.self), $0.load(fromByteOffset: 8, as: Int.self)) }
    }

    mutating func round(_ round: Int, world: World) throws {
        var operations = 0
        // Objects: rooted ones rotate; each is checked before it is dropped.
        for _ in 0..<64 {
            let root = try tagged(Int.random(in: 16...512))
            if kept.count == 256 {
                let old = kept.removeFirst()
                if WorkerState.tag(old).0 != id { world.report("worker \(id): a rooted object was overwritten") }
            }
            kept.append(root)
            operations += 1
        }
        // Weak tables: entries kept alive must be found with their values;
        // others are dropped and must go.
        for (t, table) in world.tables.enumerated() {
            for n in 0..<32 {
                let key = try tagged()
                let value = try tagged()
                try table.setValue(value, forKey: key)
                if n % 2 == 0 {
                    live[t].append((key, value))
                    if live[t].count > 128 { live[t].removeFirst() }
                }
            }
            operations += 32
            for (key, value) in live[t].suffix(16) {
                guard let found = table[key], found.refersToSameObject(as: value) else {
                    world.report("worker \(id): \(table.weakness) table lost or changed a live entry")
                    continue
                }
            }
        }
        // Interning: names shared by every worker; a symbol one worker keeps
        // is the one every worker gets for its name, and holds its name.
        for _ in 0..<16 {
            let number = Int.random(in: 0..<512)
            let symbol = try WorkerState.intern(number, in: world.symbols)
            if !WorkerState.isSymbol(symbol.unsafeAddress, named: number) {
                world.report("worker \(id): an interned symbol does not hold its name")
            }
            symbols.append((number, symbol))
            if symbols.count > 64 { symbols.removeFirst() }
        }
        operations += 16
        for (number, symbol) in symbols.suffix(8) where !WorkerState.isInterned(symbol, number, in: world.symbols) {
            world.report("worker \(id): a kept symbol is not the one interned for its name")
        }
        // Weak references to rooted objects stay set.
        let target = try tagged()
        weakReferences.append((try GCWeakReference(target, strength: round % 2 == 0 ? .short : .long), target))
        if weakReferences.count > 32 { weakReferences.removeFirst() }
        // Finalizers on dropped objects: each must run at most once.
        for _ in 0..<8 {
            let object = try tagged()
            let (_, number) = WorkerState.tag(object)
            let unique = id << 40 | number
            try object.setFinalizer { [world] _ in
                world.finalizersRun.add(1, ordering: .relaxed)
                if !world.finalized.withLock({ $0.insert(unique).inserted }) {
                    world.finalizedTwice.add(1, ordering: .relaxed)
                }
            }
            world.finalizersSet.add(1, ordering: .relaxed)
        }
        // Foreign memory: reports in pairs, and resources closed or dropped.
        for n in 0..<8 {
            let size = Int.random(in: 64...65_536)
            try ForeignMemory.add(byteCount: size)
            try ForeignMemory.remove(byteCount: size)
            let resource = try ForeignResource<UInt>(
                byteCount: size, release: .registry(world.registry),
                open: { UInt(bitPattern: malloc(size)) },
                close: { free(UnsafeMutableRawPointer(bitPattern: $0)) })
            if n % 2 == 0 { resource.close() }
        }
        // A file port per round (every line ends in a euro sign, 0xA4 in
        // ISO-8859-15), closed or dropped unclosed; and a string port.
        let fd = open(world.path(of: id), O_WRONLY | O_APPEND | O_CREAT, 0o644)
        if fd >= 0 {
            let port = try OutputPort.openFile(
                descriptor: fd, encoding: "ISO-8859-15", closesDescriptor: true, bufferCapacity: 512)
            ports += 1
            world.portsOpened.add(1, ordering: .relaxed)
            let lines = Int.random(in: 1...40)
            for line in 0..<lines { try port.write("w\(id) p\(ports) l\(line) €\n") }
            world.linesWritten.add(lines, ordering: .relaxed)
            if round % 2 == 0 { try port.close() } else { world.portsDropped.add(1, ordering: .relaxed) }
        }
        let bytes = try withOutputToString(encoding: "ISO-8859-15") { try $0.write("10 €") }
        if bytes != [0x31, 0x30, 0x20, 0xA4] { world.report("worker \(id): a string port wrote \(bytes)") }
        // A short-lived hook whose owner is dropped at once.
        let owner = try GCRoot(byteCount: 16)
        _ = try PostGCHook(owner: owner) { _ in }
        _ = world.monitor.level
        if round % 4 == id % 4 { GC.collect() }
        if round % 8 == id % 8 { GC.runFinalizers() }
        if round % 16 == id % 16 { _ = world.monitor.sample() }
        world.operations.add(operations + 40, ordering: .relaxed)
    }

    /// Everything the worker kept alive is intact.
    func checkAll(world: World) {
        var checked = 0
        for (n, root) in kept.enumerated() {
            let (owner, number) = WorkerState.tag(root)
            if owner != id || (n > 0 && number <= WorkerState.tag(kept[n - 1]).1) {
                world.report("worker \(id): rooted object \(n) holds (\(owner), \(number))")
            }
            checked += 1
        }
        for (t, table) in world.tables.enumerated() {
            for (key, value) in live[t] {
                if table[key]?.refersToSameObject(as: value) != true {
                    world.report("worker \(id): \(table.weakness) table lost a live entry at the end")
                }
                checked += 1
            }
        }
        for (number, symbol) in symbols where !WorkerState.isInterned(symbol, number, in: world.symbols) {
            world.report("worker \(id): a kept symbol is not the one interned for its name at the end")
        }
        checked += symbols.count
        for (reference, target) in weakReferences {
            if reference.target?.refersToSameObject(as: target) != true {
                world.report("worker \(id): a weak reference to a rooted object was cleared")
            }
            checked += 1
        }
        world.entriesChecked.add(checked, ordering: .relaxed)
    }
}

extension WorkerState {
    /// The bytes of name `number` ("s" and the number).
    static func withName<R>(_ number: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var name = "s\(number)"
        return try name.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }

    static func nameHash(_ name: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: name)
        return hasher.finalize()
    }

    /// Whether the symbol at `symbol` ([length][bytes]) holds `name`.
    static func holds(_ symbol: UnsafeRawPointer, _ name: UnsafeRawBufferPointer) -> Bool {
        symbol.load(as: Int.self) == name.count
            && name.elementsEqual(UnsafeRawBufferPointer(start: symbol + 8, count: name.count))
    }

    static func isSymbol(_ symbol: UnsafeRawPointer, named number: Int) -> Bool {
        withName(number) { holds(symbol, $0) }
    }

    /// The symbol of name `number`, made if there is none.
    static func intern(_ number: Int, in symbols: GCWeakSet) throws -> GCRoot {
        try withName(number) { name in
            GCRoot(
                try symbols.handle(
                    hash: nameHash(name), where: { holds($0, name) },
                    orInsert: {
                        let symbol = try GCRoot(byteCount: 8 + name.count, kind: .pointerFree)
                        symbol.withUnsafeMutableBytes { bytes in
                            bytes.storeBytes(of: name.count, as: Int.self)
                            UnsafeMutableRawBufferPointer(rebasing: bytes[8...]).copyMemory(from: name)
                        }
                        return symbol
                    }))
        }
    }

    /// Whether `symbol` is the one the set holds for name `number`.
    static func isInterned(_ symbol: GCRoot, _ number: Int, in symbols: GCWeakSet) -> Bool {
        withName(number) { name in
            symbols.unsafeElement(hash: nameHash(name)) { holds($0, name) } == symbol.unsafeAddress
        }
    }
}
