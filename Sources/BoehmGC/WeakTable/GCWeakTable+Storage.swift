#if canImport(Glibc)
    import Glibc
#endif

/// A weak table's storage and counters, guarded by the table's mutex.
///
/// Storage: `capacity` slots of two words (key, value) in one scanned GC
/// array, open addressing with linear probing, capacity a power of two,
/// Fibonacci hashing of the identity hash (the address) or of a content
/// hash. A weak field holds its object complemented (`cgc_hide`), a strong
/// one plainly. The array is kept alive by the table's `cgc_weak_region`
/// (uncollectable, scanned), which also puts it in the sweep; this struct's
/// copies of the pointers are for speed and are never the only reference.
///
/// Three layouts (``Layout``): identity (no hash stored: the key word is the
/// hash), content (a pointer-free array of hashes beside the slots), and set
/// (keys only, weak; the value word holds the hash, so a probe reads one
/// cache line per slot). Content hashes are stored with the top bit set
/// (``contentHash(_:)``): no stored hash is ever a plausible heap address,
/// so the set's value words, which the collector scans, retain nothing.
///
/// Slot states, read from the key word first: empty (0), tombstone (1), dead
/// (key word 2 for weak keys and keys-and-values; value word 2 with the
/// strong key kept for weak values), live otherwise. Only the sweep makes an
/// entry dead (or an owner's copy, in a sweep window); only the owner (under
/// the mutex) makes a dead entry a tombstone. An owner change to a weak field
/// uses compare-and-exchange, so it never overwrites a DEAD the sweep wrote
/// after the field was read.
///
/// `@unchecked Sendable`: the raw pointers are touched only by the holder
/// of `GCWeakTable.state` (a mutex), by lock-free readers (which validate
/// what they read with the table's sequence lock) and by the collector's
/// sweep (see the opening comment of `cgc_weak.h`).
struct WeakTableState: @unchecked Sendable {
    /// How keys are found.
    enum Layout: Equatable {
        /// By address: the key word is compared, the address hashed.
        case identity
        /// By a content hash, stored in `hashes`, and equality.
        case content
        /// A weak set: keys only, the hash stored in the value word.
        case set
    }

    let region: WeakRegion
    let weakKeys: Bool
    let weakValues: Bool
    let layout: Layout
    /// The content equality (content layout only); the hash closure is the
    /// table's, called outside the lock.
    let equals: (@Sendable (UnsafeRawPointer, UnsafeRawPointer) -> Bool)?
    /// Whether dead entries must be kept for the vacuum (onDeadEntry set
    /// and the table has a strong half to hand over).
    let keepsDeadEntries: Bool

    var words: UnsafeMutablePointer<UInt>
    var hashes: UnsafeMutablePointer<Int>?
    var capacity: Int
    var shift: UInt
    /// Live and dead entries (not tombstones).
    var occupied = 0
    var tombstones = 0
    /// Capacity never shrinks below this (from minimumCapacity and
    /// reserveCapacity).
    var floorCapacity: Int

    // Statistics.
    var vacuums = 0
    var entriesVacuumed = 0
    var vacuumNanoseconds: UInt64 = 0
    var lastVacuumNanoseconds: UInt64 = 0
    var resizes = 0
    /// The collection count at the last resize.
    var resizeEpoch = shim_collectionEpoch()
    /// Collections run before growing (see `wantsCollectionBeforeGrowing`).
    var collectionsBeforeGrowing = 0

    // Sizing with hysteresis: the capacity follows the most entries held
    // over the current collection window and the two before it, not only
    // the entries held now. Under steady churn a table fills between two
    // collections and empties at the vacuum after each: sized for what is
    // left, it shrank after every collection and grew back (by doublings)
    // before the next, several resizes per collection.
    /// Whether the capacity follows the recent peak (the default) or only
    /// the entries held now (the old sizing, kept for the benchmark).
    let followsPeak: Bool
    /// The collection epoch the current window began at.
    var peakEpoch = shim_collectionEpoch()
    /// The most entries held since the window began (counted as
    /// ``liveCount``: those a collection found dead do not count).
    var windowPeak = 0
    /// The peaks of the two windows before it.
    var earlierPeaks = (0, 0)

    static let smallestCapacity = 8

    /// The capacity (a power of two) that holds `count` entries at no more
    /// than half load.
    static func capacity(forCount count: Int, floor: Int) -> Int {
        var capacity = max(smallestCapacity, floor)
        while capacity < count * 2 { capacity *= 2 }
        return capacity
    }

    /// The smallest capacity holding `count` entries below the growth
    /// threshold.
    static func capacity(reserving count: Int) -> Int {
        var capacity = smallestCapacity
        while (count + 1) * 5 > capacity * 4 { capacity *= 2 }
        return capacity
    }

    /// Allocates zeroed storage (and hashes) for `capacity` slots.
    static func allocate(
        capacity: Int, withHashes: Bool
    ) -> (UnsafeMutablePointer<UInt>, UnsafeMutablePointer<Int>?)? {
        let bytes = capacity * 2 * MemoryLayout<UInt>.size
        guard let raw = libgc_malloc(bytes, pointerFree: false) else { return nil }
        var hashes: UnsafeMutablePointer<Int>? = nil
        if withHashes {
            // Pointer-free: hashes are never read before their slot is set.
            guard let h = libgc_malloc(capacity * MemoryLayout<Int>.size, pointerFree: true) else { return nil }
            hashes = h.bindMemory(to: Int.self, capacity: capacity)
        }
        return (raw.bindMemory(to: UInt.self, capacity: capacity * 2), hashes)
    }

    init(
        region: WeakRegion, weakKeys: Bool, weakValues: Bool, layout: Layout,
        hashing: GCWeakTable.Hashing, keepsDeadEntries: Bool, minimumCapacity: Int, followsPeak: Bool = true
    ) throws(GCError) {
        self.region = region
        self.weakKeys = weakKeys
        self.weakValues = weakValues
        self.layout = layout
        self.equals = hashing.equals
        self.keepsDeadEntries = keepsDeadEntries
        self.followsPeak = followsPeak
        let capacity = Self.capacity(reserving: minimumCapacity)
        guard let storage = Self.allocate(capacity: capacity, withHashes: layout == .content) else {
            throw .outOfMemory(byteCount: capacity * 2 * MemoryLayout<UInt>.size)
        }
        self.words = storage.0
        self.hashes = storage.1
        self.capacity = capacity
        self.shift = UInt(64 - capacity.trailingZeroBitCount)
        self.floorCapacity = capacity
        publish()
    }

    /// Makes the current storage the region's (so the sweep covers it and
    /// the collector keeps it).
    func publish() {
        shim_weakNoteMoved(region)
        shim_weakRegionPublish(
            region, UnsafeMutableRawPointer(words).assumingMemoryBound(to: WeakSlot.self), capacity,
            hashes.map { UnsafeMutableRawPointer($0) })
    }

    var mask: Int { capacity - 1 }
    var deadCount: Int { shim_weakRegionDead(region) }
    var liveCount: Int { occupied - deadCount }
    var storageBytes: Int {
        capacity * 2 * MemoryLayout<UInt>.size + (hashes == nil ? 0 : capacity * MemoryLayout<Int>.size)
    }

    // MARK: Encoding

    @inline(__always) func keyWord(_ key: UnsafeMutableRawPointer) -> UInt {
        weakKeys ? shim_hide(key) : UInt(bitPattern: key)
    }

    @inline(__always) func valueWord(_ value: UnsafeMutableRawPointer) -> UInt {
        weakValues ? shim_hide(value) : UInt(bitPattern: value)
    }

    @inline(__always) func keyField(_ i: Int) -> UnsafeMutablePointer<UInt> { words + 2 &* i }
    @inline(__always) func slot(_ i: Int) -> UnsafeMutablePointer<WeakSlot> {
        UnsafeMutableRawPointer(keyField(i)).assumingMemoryBound(to: WeakSlot.self)
    }
    @inline(__always) func valueField(_ i: Int) -> UnsafeMutablePointer<UInt> { words + (2 &* i &+ 1) }

    /// A content hash as stored and bucketed: the top bit set, so that no
    /// stored hash is a plausible heap address (a set's value word, which the
    /// collector scans, then retains nothing) and none is a slot marker.
    @inline(__always) static func contentHash(_ hash: Int) -> UInt { UInt(bitPattern: hash) | (1 << 63) }

    /// The stored hash of live slot `i` (content and set layouts).
    @inline(__always) func storedHash(_ i: Int) -> UInt {
        layout == .set ? shim_loadField(valueField(i)) : UInt(bitPattern: hashes.unsafelyUnwrapped[i])
    }

    @inline(__always) func bucket(_ hash: UInt) -> Int { Self.bucket(hash, shift: shift) }

    /// Fibonacci hashing: the top bits of hash × 2^64/φ.
    @inline(__always) static func bucket(_ hash: UInt, shift: UInt) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) &>> shift)
    }

    /// Whether slot `i` holds a dead entry awaiting vacuum.
    @inline(__always) func isDead(_ i: Int) -> Bool {
        let key = shim_loadField(keyField(i))
        if key == slotDead { return true }
        return !weakKeys && weakValues && key > slotDead && shim_loadField(valueField(i)) == slotDead
    }

    /// The key object of a live slot, or nil if the entry died (weak keys
    /// read with the read-reveal-reread of `cgc_load_weak`).
    @inline(__always) func keyObject(_ i: Int) -> UnsafeMutableRawPointer? {
        weakKeys ? shim_loadWeak(keyField(i)) : shim_loadStrong(keyField(i))
    }

    /// The value object of a live slot, or nil if the entry died.
    @inline(__always) func valueObject(_ i: Int) -> UnsafeMutableRawPointer? {
        weakValues ? shim_loadWeak(valueField(i)) : shim_loadStrong(valueField(i))
    }

    /// What a lookup of live slot `i` returns: its value, or for a set its
    /// key (the element); nil if the entry died.
    @inline(__always) func entryValue(_ i: Int) -> UnsafeMutableRawPointer? {
        layout == .set ? keyObject(i) : valueObject(i)
    }

    // MARK: Lookup

    /// The slot of the live entry for `key`, whose hash is `h` (identity:
    /// its address; content: its content hash, computed by the caller outside
    /// the lock), or nil.
    @inline(__always)
    func find(_ key: UnsafeMutableRawPointer, hash h: UInt) -> Int? {
        if layout == .identity { return findIdentity(key) }
        return findSlot(hash: h) { state, i, _ in state.keyEquals(i, hash: h, key) }
    }

    @inline(__always)
    func findIdentity(_ key: UnsafeMutableRawPointer) -> Int? {
        Self.probeIdentity(key, words: words, shift: shift, weakKeys: weakKeys, weakValues: weakValues)
    }

    /// The identity probe of both lookups, under the lock and without it over a published storage.
    ///
    /// Returns the slot of the live entry for `key` in `words` (2^(64 -
    /// shift) slots), or nil. Weak keys: a matching key
    /// word is live (the sweep writes DEAD into the key word). Weak values
    /// keep the strong key and mark the value word DEAD, so a dead entry for
    /// the key may come before a live one. At most one pass over the storage.
    @inline(__always)
    static func probeIdentity(
        _ key: UnsafeMutableRawPointer, words: UnsafeMutablePointer<UInt>, shift: UInt, weakKeys: Bool,
        weakValues: Bool
    ) -> Int? {
        let mask = Int(bitPattern: (1 as UInt) &<< (64 &- shift)) &- 1
        let wanted = weakKeys ? shim_hide(key) : UInt(bitPattern: key)
        var i = bucket(UInt(bitPattern: key), shift: shift)
        for _ in 0...mask {
            let word = shim_loadField(words + 2 &* i)
            if word == wanted {
                if weakKeys || !weakValues || shim_loadField(words + (2 &* i &+ 1)) != slotDead { return i }
            } else if word == slotEmpty {
                return nil
            }
            i = (i &+ 1) & mask
        }
        return nil
    }

    /// The slot of the first live entry for which `matches` holds, or nil.
    ///
    /// Probes `hash`'s sequence; `matches(state, slot, keyWord)` is asked of
    /// each live slot. Under the lock.
    @inline(__always)
    func findSlot(hash h: UInt, matches: (borrowing WeakTableState, Int, UInt) -> Bool) -> Int? {
        var i = bucket(h)
        for _ in 0..<capacity {
            let word = shim_loadField(keyField(i))
            if word == slotEmpty { return nil }
            if word > slotDead, weakKeys || !weakValues || shim_loadField(valueField(i)) != slotDead,
                matches(self, i, word)
            {
                return i
            }
            i = (i &+ 1) & mask
        }
        return nil
    }

    /// Whether live slot `i` holds a key equal to `key` by the table's
    /// closures: the same stored hash, then the same object or `equals`.
    @inline(__always)
    func keyEquals(_ i: Int, hash h: UInt, _ key: UnsafeMutableRawPointer) -> Bool {
        guard storedHash(i) == h, let candidate = keyObject(i) else { return false }
        let equal = candidate == key || equals.unsafelyUnwrapped(UnsafeRawPointer(candidate), UnsafeRawPointer(key))
        shim_keepAlive(candidate)
        return equal
    }

    /// Whether live slot `i` holds a key with stored hash `h` for which
    /// `matches` holds (the content lookups by hash and match).
    @inline(__always)
    func keyMatches(_ i: Int, hash h: UInt, _ matches: (UnsafeRawPointer) -> Bool) -> Bool {
        guard storedHash(i) == h, let candidate = keyObject(i) else { return false }
        let matched = matches(UnsafeRawPointer(candidate))
        shim_keepAlive(candidate)
        return matched
    }

    // MARK: Insert, replace, remove

    /// Probes an insert may take before it asks for a rehash.
    ///
    /// At the 80% growth threshold a miss probes 13 slots on average under
    /// linear probing; 256 is far out in the tail.
    static let probeLimit = 256

    /// What an insert does with a live entry for its key.
    enum OnMatch {
        /// Replaces its value (and, with content hashing, its key).
        case replace
        /// Keeps it, and returns its value: get-or-insert.
        case keep
    }

    enum InsertOutcome {
        case inserted
        case replaced
        /// A live entry for the key was kept (``OnMatch/keep``): its value,
        /// or for a set its element.
        case existing(UnsafeMutableRawPointer)
        /// The table must grow or be rehashed first.
        case full
    }

    /// The entry an insert writes: its words and objects, its hash, and how
    /// the slot of an entry for its key is recognised.
    struct NewEntry {
        var keyWord: UInt
        var valueWord: UInt
        var hash: UInt
        var key: UnsafeMutableRawPointer
        /// The value object, or for a set the element again.
        var value: UnsafeMutableRawPointer
    }

    /// Inserts, replaces, or (``OnMatch/keep``) finds the live entry for the
    /// new entry's key.
    ///
    /// `matches(state, slot, keyWord)` says whether a live slot with that key
    /// word holds an entry for the key. Returns `.full` without change when the
    /// new entry would take an empty slot past 80% of capacity (tombstones
    /// included).
    ///
    /// A dead entry met on the way is dropped here (lazy vacuum) and its
    /// slot reused; if the table keeps dead entries for `onDeadEntry`, its
    /// strong half is appended to `pending` first, for the caller to deliver
    /// outside the lock. (Otherwise keys at reused addresses pile up behind
    /// the dead entries of earlier keys with the same hash.)
    ///
    /// A probe longer than `probeLimit` slots also returns `.full`: the
    /// caller then rehashes, which drops every tombstone. Without it, a table
    /// whose inserts keep reusing tombstones and dead slots never takes an
    /// empty slot past 80%, so it never rehashes, and its clusters merge
    /// until each insert scans thousands of slots: the cost of a churning
    /// insert would have no bound.
    @inline(__always)
    mutating func insert(
        _ new: NewEntry, onMatch: OnMatch, pending: inout DeadHalves?,
        probeLimit: Int = WeakTableState.probeLimit, matches: (borrowing WeakTableState, Int, UInt) -> Bool
    ) -> InsertOutcome {
        var i = bucket(new.hash)
        var reusable = -1
        var probes = 0
        while true {
            let word = shim_loadField(keyField(i))
            if word == slotEmpty { break }
            probes &+= 1
            if probes > probeLimit || probes > capacity { return .full }
            if word == slotTombstone {
                if reusable < 0 { reusable = i }
            } else if isDead(i) {
                if reusable < 0 { reusable = i }
            } else if matches(self, i, word) {
                switch onMatch {
                case .keep:
                    if let existing = entryValue(i) { return .existing(existing) }
                    // Dead, or, in a sweep window, not reached by the marker:
                    // marked DEAD now, so that no lookup stops at it before
                    // the entry this insert makes (an identity probe takes
                    // the first slot with the key).
                    shim_weakKillIfUnmarked(region, slot(i))
                case .replace:
                    if replaceEntry(at: i, keyWord: word, key: new.key, value: new.value) {
                        shim_weakNoteYoung(region, i)
                        shim_keepAlive(new.key)
                        shim_keepAlive(new.value)
                        return .replaced
                    }
                }
                // A weak half died after it was read: once the sweep has
                // marked the entry DEAD, go on as for any dead entry. (In a
                // sweep window it may still await the sweep: then it is left
                // to it.)
                if reusable < 0 && isDead(i) { reusable = i }
            }
            i = (i &+ 1) & mask
        }
        if reusable < 0 {
            // 80%, not 90%: a miss (every fresh insert is one) probes about
            // (1 + 1/(1-a)^2)/2 slots under linear probing, 50 at 90% load
            // and 13 at 80%, and a churning table inserts little else.
            if (occupied + tombstones + 1) * 5 > capacity * 4 { return .full }
            reusable = i
        } else if shim_loadField(keyField(reusable)) == slotTombstone {
            tombstones -= 1
        } else {
            // A dead entry: drop it here (lazy vacuum).
            if keepsDeadEntries, let strong = strongHalfOfDead(reusable) {
                DeadHalves.append(strong, to: &pending)
            }
            clear(reusable)
            shim_weakRegionForgetDead(region, 1)
            occupied -= 1
            entriesVacuumed += 1
        }
        if layout == .content { hashes.unsafelyUnwrapped[reusable] = Int(bitPattern: new.hash) }
        // Value first, key last: the sweep and probes treat the slot as an
        // entry only once the key word is set.
        shim_storeField(valueField(reusable), new.valueWord)
        shim_storeField(keyField(reusable), new.keyWord)
        occupied += 1
        notePeak()
        // A partial collection tests only the slots written since the last
        // collection (older weak targets stay marked until a full one).
        shim_weakNoteYoung(region, reusable)
        shim_keepAlive(new.key)
        shim_keepAlive(new.value)
        return .inserted
    }

    /// Makes live slot `i`, whose key word was `old`, the entry `key` → `value`.
    ///
    /// The value is replaced and, with content hashing, the key too
    /// (an equal but different object), so the entry lives as long as the
    /// key it was last set with; keeping the first key would let the entry
    /// die with an object the caller no longer uses. False if the sweep
    /// marked the entry dead since it was read.
    @inline(__always)
    func replaceEntry(
        at i: Int, keyWord old: UInt, key: UnsafeMutableRawPointer, value: UnsafeMutableRawPointer
    ) -> Bool {
        let new = keyWord(key)
        if new != old && weakKeys {
            // The caller holds the new key, so no sweep marks it dead; the
            // exchange fails if one marked the old key DEAD since `old` was
            // read.
            guard shim_exchangeField(keyField(i), old, new) else { return false }
        }
        guard replaceValue(at: i, with: value) else { return false }
        // A strong key is never written by the sweep.
        if new != old && !weakKeys { shim_storeField(keyField(i), new) }
        return true
    }

    /// Replaces the value of live slot `i`.
    ///
    /// False if the sweep marked the entry dead since it was read.
    @inline(__always)
    func replaceValue(at i: Int, with value: UnsafeMutableRawPointer) -> Bool {
        let field = valueField(i)
        if !weakValues {
            // Weak keys only: the caller's key is reachable, so the entry
            // cannot die under us; the value word is never written by the
            // sweep.
            shim_storeField(field, valueWord(value))
            return true
        }
        let old = shim_loadField(field)
        if old == slotDead { return false }
        return shim_exchangeField(field, old, valueWord(value))
            && shim_loadField(keyField(i)) != slotDead
    }

    /// Turns slot `i` into a tombstone (key word first, so the sweep skips
    /// the slot from then on).
    @inline(__always)
    func clear(_ i: Int) {
        shim_storeField(keyField(i), slotTombstone)
        shim_storeField(valueField(i), slotEmpty)
    }

    /// Removes the live entry for `key` (of hash `h`, as for ``find(_:hash:)``);
    /// returns its value, or nil if there was none (a dead entry stays for
    /// the vacuum).
    mutating func remove(_ key: UnsafeMutableRawPointer, hash h: UInt) -> UnsafeMutableRawPointer? {
        guard let i = find(key, hash: h) else { return nil }
        guard let value = detach(i) else { return nil }
        shim_keepAlive(key)
        return value
    }

    /// Turns live slot `i` into a tombstone and returns its value (for a
    /// set, its element), or nil (the slot left alone) if the sweep marked
    /// the entry dead first.
    ///
    /// The value is revealed into a register first (it stays visible to a
    /// collection from then on). The entry is then detached by exchanging
    /// the field the sweep writes DEAD into (the key for weak keys and keys
    /// and values, the value for weak values), so neither overwrites the
    /// other: a sweep that got there first makes the exchange fail, and the
    /// entry is the vacuum's.
    mutating func detach(_ i: Int) -> UnsafeMutableRawPointer? {
        let key = shim_loadField(keyField(i))
        guard key > slotDead, let value = entryValue(i) else { return nil }
        if weakKeys {
            guard shim_exchangeField(keyField(i), key, slotTombstone) else { return nil }
            shim_storeField(valueField(i), slotEmpty)
        } else {
            guard shim_exchangeField(valueField(i), valueWord(value), slotEmpty) else { return nil }
            shim_storeField(keyField(i), slotTombstone)
        }
        occupied -= 1
        tombstones += 1
        releaseTombstones(endingAt: i)
        shim_keepAlive(value)
        return value
    }

    /// Turns tombstone `i`, and the run of tombstones just before it, into
    /// empty slots if the slot after `i` is empty.
    ///
    /// Safe under linear probing, for lock-free readers too: an insert
    /// places a key at the first free slot of its probe, after probing past
    /// only non-empty slots, and a slot turns empty here only when the one
    /// after it is empty, so no live key lies beyond an empty slot of its
    /// probe. Without this, a churning table's vacuums leave a tombstone per
    /// dead entry, and the inserts that meet long runs of them ask for a
    /// rehash at the same capacity, several times per collection.
    @inline(__always)
    mutating func releaseTombstones(endingAt i: Int) {
        guard shim_loadField(keyField((i &+ 1) & mask)) == slotEmpty else { return }
        var j = i
        while shim_loadField(keyField(j)) == slotTombstone {
            shim_storeField(keyField(j), slotEmpty)
            tombstones -= 1
            j = (j &- 1) & mask
            if j == i { break }
        }
    }

    // MARK: Vacuum and resize

    /// Turns every dead entry into a tombstone (or, at the end of a run,
    /// an empty slot: ``releaseTombstones(endingAt:)``).
    ///
    /// Appends each one's strong half to `pending` when the table keeps dead
    /// entries for `onDeadEntry`. Returns how many were vacuumed.
    mutating func vacuumDeadEntries(pending: inout DeadHalves?) -> Int {
        let expected = deadCount
        guard expected > 0 else { return 0 }
        let start = monotonicNanoseconds()
        var cleared = 0
        var i = 0
        while i < capacity && cleared < expected {
            if isDead(i) {
                if keepsDeadEntries, let strong = strongHalfOfDead(i) {
                    DeadHalves.append(strong, to: &pending)
                }
                clear(i)
                cleared += 1
                tombstones += 1
                releaseTombstones(endingAt: i)
            }
            i += 1
        }
        shim_weakRegionForgetDead(region, cleared)
        occupied -= cleared
        entriesVacuumed += cleared
        vacuums += 1
        let elapsed = monotonicNanoseconds() - start
        lastVacuumNanoseconds = elapsed
        vacuumNanoseconds += elapsed
        return cleared
    }

    /// The strong half of dead slot `i`: the value for weak keys, the key for
    /// weak values; nil for keys and values, and for a set.
    func strongHalfOfDead(_ i: Int) -> UnsafeMutableRawPointer? {
        if (weakKeys && weakValues) || layout == .set { return nil }
        let word = weakKeys ? shim_loadField(valueField(i)) : shim_loadField(keyField(i))
        return word > slotDead ? UnsafeMutableRawPointer(bitPattern: word) : nil
    }

    /// Records the entries held now (those no collection found dead) in the
    /// current window's peak, starting a new window first if a collection
    /// ran since this one began.
    @inline(__always)
    mutating func notePeak() {
        startPeakWindowIfNeeded()
        let held = liveCount
        if held > windowPeak { windowPeak = held }
    }

    /// Starts a new peak window if a collection ran since this one began.
    @inline(__always)
    mutating func startPeakWindowIfNeeded() {
        let epoch = shim_collectionEpoch()
        if epoch != peakEpoch { startPeakWindow(epoch) }
    }

    /// Starts the window of collection `epoch`: the peaks move back (a
    /// window no insert saw counts as empty), and the new one starts from the
    /// entries still live (those the collection found dead do not count).
    mutating func startPeakWindow(_ epoch: UInt64) {
        switch epoch &- peakEpoch {
        case 1: earlierPeaks = (windowPeak, earlierPeaks.0)
        case 2: earlierPeaks = (0, windowPeak)
        default: earlierPeaks = (0, 0)
        }
        windowPeak = liveCount
        peakEpoch = epoch
    }

    /// The entries the capacity is sized for: the most held over the
    /// current and the two previous collection windows (the old sizing: the
    /// entries held now).
    var sizingCount: Int {
        guard followsPeak else { return occupied }
        return max(occupied, windowPeak, earlierPeaks.0, earlierPeaks.1)
    }

    /// Whether the table should shrink (after a vacuum), for a capacity
    /// above the floor.
    ///
    /// With the hysteresis: once the most entries held over the last three
    /// collection windows fall below an eighth of the capacity, and then to
    /// hold that peak at half load. Growth comes at 80%, so a table sized
    /// for its peak must hold 6.4 times fewer entries, for three windows, to
    /// shrink: collections that come faster than the churn (a peak split
    /// between windows) do not make it resize. The old sizing: the live
    /// entries below a quarter.
    var wantsShrink: Bool {
        guard capacity > floorCapacity else { return false }
        return followsPeak ? sizingCount * 8 < capacity : liveCount * 4 < capacity
    }

    /// Whether the table should shrink for the entries live now, whatever
    /// its recent peak (an explicit ``GCWeakTable/vacuum()``).
    var wantsShrinkNow: Bool {
        capacity > floorCapacity && liveCount * 4 < capacity
    }

    /// Moves every entry into new storage of `newCapacity` slots.
    ///
    /// `newCapacity` is a power of two holding all entries below 80%. Dead
    /// entries are dropped, unless
    /// the table keeps them for its vacuum (the caller vacuums first; only
    /// entries that died since are carried over) or `carryDead` asks to keep
    /// them all (lazy tables).
    ///
    /// Collections may happen during the move (they are neither disabled nor
    /// blocked): the new storage is swept too while it fills, and each live
    /// entry is copied by `cgc_weak_copy_slot`, which holds its objects in
    /// registers from the check that it is still live to the end of the copy.
    mutating func rehash(to newCapacity: Int, carryDead: Bool = false) throws(GCError) {
        // Allocate first: this may collect, and the sweep covers the old
        // storage.
        guard let storage = Self.allocate(capacity: newCapacity, withHashes: hashes != nil) else {
            throw .outOfMemory(byteCount: newCapacity * 2 * MemoryLayout<UInt>.size)
        }
        let flags = shim_weakFlags(keys: weakKeys, values: weakValues)
        let newSlots = UnsafeMutableRawPointer(storage.0).assumingMemoryBound(to: WeakSlot.self)
        shim_weakRegionBeginMove(region, newSlots, newCapacity, storage.1.map { UnsafeMutableRawPointer($0) })
        let oldWords = words
        let oldHashes = hashes
        let oldCapacity = capacity
        let oldSlots = UnsafeMutableRawPointer(oldWords).assumingMemoryBound(to: WeakSlot.self)
        words = storage.0
        hashes = storage.1
        capacity = newCapacity
        shift = UInt(64 - newCapacity.trailingZeroBitCount)
        let keepDead = keepsDeadEntries || carryDead
        var moved = 0
        var droppedDead = 0
        for j in 0..<oldCapacity {
            let key = shim_loadField(oldWords + 2 &* j)
            if key == slotEmpty || key == slotTombstone { continue }
            let value = shim_loadField(oldWords + (2 &* j &+ 1))
            if !(key == slotDead || (!weakKeys && value == slotDead)) {
                let h: UInt
                switch layout {
                case .identity: h = weakKeys ? ~key : key
                case .content: h = UInt(bitPattern: oldHashes.unsafelyUnwrapped[j])
                case .set: h = value
                }
                var i = bucket(h)
                while shim_loadField(keyField(i)) != slotEmpty { i = (i &+ 1) & mask }
                if shim_weakCopySlot(region, oldSlots + j, newSlots + i, flags) {
                    if let hashes { hashes[i] = Int(bitPattern: h) }
                    moved += 1
                    continue
                }
                // It died since it was read: its old words now show DEAD.
            }
            if !keepDead {
                droppedDead += 1
                continue
            }
            // Anywhere will do: no probe matches a dead entry, and DEAD is
            // final, so the sweep no longer writes these words.
            // Scatter them as hashed keys would be (the Fibonacci hash of the
            // old index): placed where they were, the clusters of the old
            // storage, up to a probe limit long, would come back at the same
            // load, and every insert that met one would rehash again.
            var i = bucket(UInt(bitPattern: j))
            while shim_loadField(keyField(i)) != slotEmpty { i = (i &+ 1) & mask }
            shim_storeField(valueField(i), shim_loadField(oldWords + (2 &* j &+ 1)))
            shim_storeField(keyField(i), shim_loadField(oldWords + 2 &* j))
            moved += 1
        }
        publish()
        if droppedDead > 0 {
            shim_weakRegionForgetDead(region, droppedDead)
            entriesVacuumed += droppedDead
        }
        occupied = moved
        tombstones = 0
        resizes += 1
        resizeEpoch = shim_collectionEpoch()
    }

    /// Removes every live entry in place; dead ones stay for the vacuum.
    mutating func removeAllLive() {
        for i in 0..<capacity where clearLive(i) {
            occupied -= 1
            tombstones += 1
        }
    }

    /// Turns live slot `i` into a tombstone; false if it is not live (the
    /// sweep's DEAD is never overwritten: the field it writes is exchanged).
    @inline(__always)
    func clearLive(_ i: Int) -> Bool {
        let key = shim_loadField(keyField(i))
        guard key > slotDead else { return false }
        if weakKeys {
            guard shim_exchangeField(keyField(i), key, slotTombstone) else { return false }
            shim_storeField(valueField(i), slotEmpty)
        } else {
            let value = shim_loadField(valueField(i))
            guard value > slotDead, shim_exchangeField(valueField(i), value, slotEmpty) else { return false }
            shim_storeField(keyField(i), slotTombstone)
        }
        return true
    }

    /// Whether a table about to grow should have a collection (and its vacuum) first
    /// (for a policy that ``GCWeakTable/VacuumPolicy/Behaviour/collectsBeforeGrowing``).
    ///
    /// Yes when no collection ran since it last resized, and the storage it
    /// would grow to passes both 64 Ki slots (1 MiB) and a sixteenth of the
    /// GC heap. On a big heap the collector's own pacing (a collection per
    /// heap/3 allocated) lets a churning table fill with dead entries, and
    /// their strong halves, for a long time: with 1 GB live, 3 M churn
    /// inserts run without a collection, and the table grows to 4 M slots of
    /// dead entries.
    /// Bounded this way the storage stays within a
    /// sixteenth of the heap beyond its live entries, at the cost of at most
    /// one collection per doubling past that size.
    func wantsCollectionBeforeGrowing() -> Bool {
        guard resizeEpoch == shim_collectionEpoch() else { return false }
        let grown = fittingCapacity
        guard grown > capacity, grown >= 1 << 16 else { return false }
        return grown * 2 * MemoryLayout<UInt>.size > libgc_heapSize() / 16
    }

    /// The capacity a rehash should pick now: fits the entries it is sized
    /// for (``sizingCount``: with the hysteresis, the recent peak) at no more
    /// than half load, and never below the floor.
    var fittingCapacity: Int { Self.capacity(forCount: sizingCount + 1, floor: floorCapacity) }

    /// The capacity that fits the entries live now at no more than half
    /// load (an explicit vacuum's shrink).
    var capacityForLiveEntries: Int { Self.capacity(forCount: liveCount + 1, floor: floorCapacity) }
}
