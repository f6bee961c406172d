import BoehmGC
import Synchronization
import TestSupport
import Testing

/// A model-based test of `GCWeakTable`: seeded random operations (insert,
/// replace, bulk insert, drop a root, take a root back from a lookup, lookup, remove,
/// collect and drain, vacuum, count, forEach), each checked against a model
/// of what the test keeps reachable.
///
/// The collector is conservative: an object the test dropped may survive
/// any number of collections (a stale word on a stack), so the model only
/// knows which entries are *certainly alive* (every weak side rooted by
/// the test). The checks: a certainly-alive entry is always found with its
/// exact value; anything the table returns or yields is an entry of the
/// model with its latest value (nothing corrupted, nothing resurrected
/// after removal or replacement); `count` lies between the certainly-alive
/// and the model's entries; after a collection and a drain an eager table
/// holds no dead entry; `onDeadEntry` receives only strong halves of
/// entries whose weak side the test had dropped, each at most once.
@Suite struct WeakTableModelTests {
    struct Setup: CustomStringConvertible, Sendable {
        var weakness: GCWeakTable.Weakness
        var vacuum: GCWeakTable.VacuumPolicy
        var contentHashing: Bool
        var description: String { "\(weakness) \(vacuum)\(contentHashing ? " content" : "")" }
    }

    static let setups: [Setup] = [
        Setup(weakness: .keys, vacuum: .eager, contentHashing: false),
        Setup(weakness: .keys, vacuum: .lazyOnly, contentHashing: false),
        Setup(weakness: .values, vacuum: .eager, contentHashing: false),
        Setup(weakness: .values, vacuum: .lazyOnly, contentHashing: false),
        Setup(weakness: .keysAndValues, vacuum: .eager, contentHashing: false),
        Setup(weakness: .keysAndValues, vacuum: .lazyOnly, contentHashing: false),
        Setup(weakness: .keys, vacuum: .eager, contentHashing: true),
        Setup(weakness: .values, vacuum: .lazyOnly, contentHashing: true),
    ]

    @Test(arguments: setups)
    func randomOperationsAgreeWithTheModel(setup: Setup) throws {
        for seed: UInt64 in [1, 2, 3] {
            var run = try ModelRun(setup: setup, seed: seed)
            try run.run(operations: 1_500)
            withExtendedLifetime(run) {}
        }
    }
}

/// Strong halves handed to `onDeadEntry`, as tags.
final class DeadLog: Sendable {
    let tags = Mutex<[Int]>([])
    func take() -> [Int] {
        tags.withLock { tags in
            defer { tags.removeAll() }
            return tags
        }
    }
}

struct ModelRun {
    let setup: WeakTableModelTests.Setup
    let seed: UInt64
    var random: SeededRandom
    let table: GCWeakTable
    let dead = DeadLog()

    /// Objects the test roots, by tag (keys have tags >= 0, values < 0).
    var roots: [Int: GCRoot] = [:]
    /// The model: key id → value tag. With content hashing a key id names
    /// an equal-content class; `keyObject` is the tag of the object the entry
    /// was last set with.
    var entries: [Int: Int] = [:]
    var keyObject: [Int: Int] = [:]
    /// Objects of entries removed or replaced (their values, and key
    /// objects an equal key replaced).
    var retired: Set<Int> = []
    /// Weak values: key objects of entries that may have died unseen (the
    /// test replaced or removed them while their value was dropped): each
    /// may still come to `onDeadEntry` once.
    var doomed: [Int: Int] = [:]
    var nextTag = 1
    var step = 0
    var log: [String] = []

    init(setup: WeakTableModelTests.Setup, seed: UInt64) throws {
        self.setup = setup
        self.seed = seed
        random = SeededRandom(seed: seed)
        let dead = self.dead
        let hashing: GCWeakTable.Hashing = setup.contentHashing ? ModelRun.hashing : .identity
        var onDeadEntry: (@Sendable (GCRoot) -> Void)? = nil
        if setup.weakness != .keysAndValues {
            onDeadEntry = { @Sendable strong in
                let tag = ModelRun.tag(of: strong)
                dead.tags.withLock { $0.append(tag) }
            }
        }
        table = try GCWeakTable(
            weakness: setup.weakness, hashing: hashing, vacuum: setup.vacuum, minimumCapacity: 0,
            onDeadEntry: onDeadEntry)
    }

    // MARK: Objects

    /// Key objects: word 0 the key id (hashed and compared by content),
    /// word 1 the object's own tag. Values: word 0 the (negative) tag.
    static let hashing = GCWeakTable.Hashing.content(
        hash: { $0.load(as: Int.self).hashValue },
        equals: { $0.load(as: Int.self) == $1.load(as: Int.self) })

    static func tag(of root: GCRoot) -> Int {
        root.withUnsafeMutableBytes { bytes in
            let first = bytes.load(as: Int.self)
            return first < 0 ? first : bytes.load(fromByteOffset: 8, as: Int.self)
        }
    }

    static func keyID(of root: GCRoot) -> Int { root.withUnsafeMutableBytes { $0.load(as: Int.self) } }

    mutating func newKey(id: Int) throws -> GCRoot {
        let key = try GCRoot(byteCount: 16, kind: .pointerFree)
        let tag = nextTag
        nextTag += 1
        key.withUnsafeMutableBytes {
            $0.storeBytes(of: id, as: Int.self)
            $0.storeBytes(of: tag, toByteOffset: 8, as: Int.self)
        }
        roots[tag] = key
        return key
    }

    mutating func newValue() throws -> GCRoot {
        let value = try GCRoot(byteCount: 16, kind: .pointerFree)
        let tag = -nextTag
        nextTag += 1
        value.withUnsafeMutableBytes { $0.storeBytes(of: tag, as: Int.self) }
        roots[tag] = value
        return value
    }

    /// With identity hashing a key id is the key object's own tag.
    func keyRoot(id: Int) -> GCRoot? {
        guard let tag = keyObject[id] else { return nil }
        return roots[tag]
    }

    /// Whether the test keeps every weak side of entry `id` reachable.
    func certainlyAlive(_ id: Int) -> Bool {
        guard let value = entries[id], let key = keyObject[id] else { return false }
        switch setup.weakness {
        case .keys: return roots[key] != nil
        case .values: return roots[value] != nil
        case .keysAndValues: return roots[key] != nil && roots[value] != nil
        }
    }

    func fail(_ message: String) -> String {
        "\(setup) seed \(seed) step \(step): \(message); last operations: \(log.suffix(8).joined(separator: ", "))"
    }

    // MARK: Operations

    mutating func run(operations: Int) throws {
        for _ in 0..<operations {
            step += 1
            let dice = Int.random(in: 0..<100, using: &random)
            switch dice {
            case 0..<30: try insert()
            case 30..<40: try replace()
            case 40..<55: dropRoot()
            case 55..<60: rootAgainFromLookup()
            case 60..<70: remove()
            case 70..<74: collectAndDrain()
            case 74..<76: vacuum()
            case 76..<78: checkForEach()
            // Bulk: tables of thousands of slots, so resizes move many entries.
            case 78: for _ in 0..<120 { try insert() }
            default: checkLookups()
            }
            checkDeadLog()
            checkCount()
        }
        collectAndDrain()
        checkForEach()
        checkLookups()
    }

    mutating func insert() throws {
        // A new key id, or (content hashing) a fresh object equal to a
        // live key: the entry then follows that new object.
        let id: Int
        let key: GCRoot
        if setup.contentHashing, let existing = entries.keys.randomElement(using: &random),
            Bool.random(using: &random)
        {
            id = existing
            key = try newKey(id: id)
        } else {
            let fresh = try newKey(id: nextTag)
            id = setup.contentHashing ? ModelRun.keyID(of: fresh) : ModelRun.tag(of: fresh)
            key = fresh
        }
        let value = try newValue()
        retireEntry(id)
        try table.setValue(value, forKey: key)
        entries[id] = ModelRun.tag(of: value)
        keyObject[id] = ModelRun.tag(of: key)
        log.append("insert \(id)")
    }

    mutating func replace() throws {
        guard let id = entries.keys.filter({ keyRoot(id: $0) != nil }).randomElement(using: &random),
            let key = keyRoot(id: id)
        else { return try insert() }
        let value = try newValue()
        let keyTag = keyObject[id]!
        retireEntry(id)
        try table.setValue(value, forKey: key)
        entries[id] = ModelRun.tag(of: value)
        keyObject[id] = keyTag
        log.append("replace \(id)")
    }

    /// Takes entry `id` out of the model before it is replaced or removed.
    mutating func retireEntry(_ id: Int) {
        guard let value = entries[id], let key = keyObject[id] else { return }
        if setup.weakness == .values && !certainlyAlive(id) { doomed[key, default: 0] += 1 }
        retired.insert(value)
        retired.insert(key)
        entries[id] = nil
        keyObject[id] = nil
    }

    mutating func dropRoot() {
        guard let tag = roots.keys.randomElement(using: &random) else { return }
        roots[tag] = nil
        log.append("drop \(tag)")
    }

    /// A lookup that finds a value hands out a root: the test holds the
    /// value again (it was alive, since the table returned it).
    mutating func rootAgainFromLookup() {
        guard let id = entries.keys.filter({ keyRoot(id: $0) != nil }).randomElement(using: &random),
            let key = keyRoot(id: id), let value = table[key]
        else { return }
        roots[ModelRun.tag(of: value)] = value
        log.append("reroot \(ModelRun.tag(of: value))")
    }

    mutating func remove() {
        guard let id = entries.keys.filter({ keyRoot(id: $0) != nil }).randomElement(using: &random),
            let key = keyRoot(id: id)
        else { return }
        let alive = certainlyAlive(id)
        let removed = table.removeValue(forKey: key)
        if alive {
            #expect(
                removed.map(ModelRun.tag(of:)) == entries[id],
                "\(fail("remove of a live entry returned the wrong value"))")
        } else if let removed {
            #expect(ModelRun.tag(of: removed) == entries[id], "\(fail("remove returned a stale value"))")
        }
        retireEntry(id)
        log.append("remove \(id)")
        #expect(table[key] == nil, "\(fail("an entry is still found after its removal"))")
    }

    mutating func collectAndDrain() {
        scrubStack()
        GC.collect()
        GC.runFinalizers()
        if setup.vacuum == .eager {
            // Other suites collect in parallel and may find more of the
            // test's dropped entries dead after the drain: drain again.
            var waiting = table.statistics.deadAwaitingVacuum
            for _ in 0..<5 where waiting > 0 {
                GC.runFinalizers()
                waiting = table.statistics.deadAwaitingVacuum
            }
            #expect(waiting == 0, "\(fail("\(waiting) dead entries after a collection and drains"))")
        }
        log.append("collect")
    }

    mutating func vacuum() {
        // A collection elsewhere may find more dead entries meanwhile:
        // vacuum until none is left, a few times at most.
        var waiting = 1
        for _ in 0..<5 where waiting > 0 {
            table.vacuum()
            waiting = table.statistics.deadAwaitingVacuum
        }
        #expect(waiting == 0, "\(fail("\(waiting) dead entries after vacuum()"))")
        log.append("vacuum")
    }

    func checkLookups() {
        for (id, value) in entries {
            guard let key = keyRoot(id: id) else { continue }
            let found = table[key].map(ModelRun.tag(of:))
            if certainlyAlive(id) {
                #expect(
                    found == value, "\(fail("live entry \(id) → \(value) looked up as \(String(describing: found))"))")
            } else if let found {
                #expect(found == value, "\(fail("dying entry \(id) → \(value) looked up as \(found)"))")
            }
            if certainlyAlive(id) { #expect(table.contains(key), "\(fail("contains misses live entry \(id)"))") }
        }
    }

    func checkForEach() {
        var seen: Set<Int> = []
        var wrong: [String] = []
        table.forEach { key, value in
            let id = setup.contentHashing ? ModelRun.keyID(of: key) : ModelRun.tag(of: key)
            let tag = ModelRun.tag(of: value)
            if entries[id] != tag { wrong.append("\(id) → \(tag) (model: \(String(describing: entries[id])))") }
            if !seen.insert(id).inserted { wrong.append("\(id) twice") }
        }
        let missing = entries.keys.filter { certainlyAlive($0) && !seen.contains($0) }
        #expect(wrong.isEmpty, "\(fail("forEach yielded \(wrong.prefix(5))"))")
        #expect(missing.isEmpty, "\(fail("forEach missed live entries \(missing.prefix(5))"))")
    }

    func checkCount() {
        let alive = entries.keys.count(where: certainlyAlive)
        let count = table.count
        #expect(
            count >= alive && count <= entries.count,
            "\(fail("count \(count) outside [\(alive) certainly alive, \(entries.count) in the model]"))")
    }

    mutating func checkDeadLog() {
        for tag in dead.take() {
            // The strong half of a dead entry: the value (weak keys) or the
            // key object (weak values) of an entry whose weak side the test
            // dropped.
            if setup.weakness == .values, let count = doomed[tag], count > 0 {
                doomed[tag] = count - 1
                continue
            }
            let id: Int?
            switch setup.weakness {
            case .keys: id = entries.first(where: { $0.value == tag })?.key
            default: id = keyObject.first(where: { $0.value == tag })?.key
            }
            if let id {
                #expect(!certainlyAlive(id), "\(fail("onDeadEntry got \(tag) of live entry \(id)"))")
                entries[id] = nil
                keyObject[id] = nil
            } else {
                #expect(retired.contains(tag), "\(fail("onDeadEntry got \(tag), which no entry held"))")
            }
        }
    }
}
