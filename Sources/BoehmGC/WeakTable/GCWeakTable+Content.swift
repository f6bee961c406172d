extension GCWeakTable {
    // MARK: Lookups by hash and match

    /// The value of the live entry whose key has hash `hash` and satisfies
    /// `matches`, with a raw address.
    ///
    /// A content lookup without a key object: the caller hashes what it
    /// has (borrowed bytes, a Swift string, any value) and says which stored
    /// key is equal to it, so nothing is allocated. `hash` must be what the
    /// table's `hash` closure returns for an equal key object. `matches`
    /// is called with the address of each stored key of that hash, which
    /// stays alive for the call; it must not keep the address, and, like
    /// the table's closures, must not use the table (when a writer
    /// interferes the lookup retries under the table's lock).
    ///
    /// The lookup takes no lock: it reads the storage as last published
    /// and checks, with the table's sequence lock, that no writer ran
    /// meanwhile. <doc:WeakTables> shows interning with it.
    ///
    /// - Precondition: the table hashes by content
    ///   (``Hashing/content(hash:equals:)``); otherwise the call traps.
    /// - Parameters:
    ///   - hash: The hash of the key looked for, as the table's `hash`
    ///     closure computes it.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    /// - Returns: The value's address, or nil if no live entry matches. The
    ///   collector owns the memory, and only the caller's stack keeps the
    ///   value alive after the call: root it (``GCRoot/init(unsafeAddress:)``)
    ///   or store it in a reachable GC object before relying on it past its
    ///   use.
    public func unsafeValue(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> UnsafeMutableRawPointer? {
        enterCollector()
        requireContentHashing()
        return contentLookup(WeakTableState.contentHash(hash), matches)
    }

    /// The value of the live entry whose key has hash `hash` and satisfies
    /// `matches`, held by a ``GCHandle``.
    ///
    /// See ``unsafeValue(hash:where:)`` for `hash` and `matches`.
    ///
    /// - Precondition: the table hashes by content.
    /// - Parameters:
    ///   - hash: The hash of the key looked for.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    /// - Returns: A handle to the value, or nil if no live entry matches.
    public func handle(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> GCHandle? {
        guard let value = unsafeValue(hash: hash, where: matches) else { return nil }
        return GCHandle(rooting: value)
    }

    /// Whether a live entry's key has hash `hash` and satisfies `matches`.
    ///
    /// See ``unsafeValue(hash:where:)`` for `hash` and `matches`.
    ///
    /// - Precondition: the table hashes by content.
    /// - Parameters:
    ///   - hash: The hash of the key looked for.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    /// - Returns: Whether such an entry exists.
    public func contains(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> Bool {
        unsafeValue(hash: hash, where: matches) != nil
    }

    /// Removes the live entry whose key has hash `hash` and satisfies
    /// `matches`.
    ///
    /// `matches` runs under the table's lock. `onDeadEntry` is not called.
    ///
    /// - Precondition: the table hashes by content.
    /// - Parameters:
    ///   - hash: The hash of the key looked for.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    /// - Returns: The entry's value, rooted, or nil if no live entry matched.
    @discardableResult
    public func removeValue(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> GCRoot? {
        guard let value = removeMatching(hash: hash, where: matches) else { return nil }
        return GCRoot(rooting: value)
    }

    /// Removes the live entry whose key has hash `hash` and satisfies
    /// `matches`, with no root made.
    ///
    /// - Precondition: the table hashes by content.
    /// - Parameters:
    ///   - hash: The hash of the key looked for.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    /// - Returns: Whether an entry was removed.
    @discardableResult
    public func unsafeRemoveValue(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> Bool {
        removeMatching(hash: hash, where: matches) != nil
    }

    // MARK: Get or insert

    /// The value for `key`, or, if there is no live entry for it, the value
    /// `makeValue` makes, inserted.
    ///
    /// Linearizable: threads that race to insert the same key all get the
    /// value of the one entry that was inserted (.NET's
    /// `ConditionalWeakTable.GetValue(key, createValueCallback)`, Python's
    /// `setdefault`). `makeValue` runs outside the table's lock, only after
    /// a lookup found no entry; it may use the table. When threads race, it
    /// may run on each of them, and only one value is kept: the others are
    /// dropped and go with the next collection.
    ///
    /// - Parameters:
    ///   - key: The key object.
    ///   - makeValue: Makes the value to insert.
    /// - Returns: The value of the entry for `key`: the one found, or the one
    ///   `makeValue` made.
    /// - Throws: What `makeValue` throws (the table is unchanged);
    ///   ``GCError/outOfMemory(byteCount:)`` if the table must grow and
    ///   cannot.
    public func value(forKey key: GCRoot, orInsert makeValue: () throws -> GCRoot) throws -> GCRoot {
        var made: GCRoot? = nil
        let value = try unsafeValue(forKey: key.unsafeAddress) {
            let root = try makeValue()
            made = root
            return root.unsafeAddress
        }
        withExtendedLifetime(key) {}
        if let made, made.unsafeAddress == value { return made }
        return GCRoot(rooting: value)
    }

    /// The value for `key`, or the value `makeValue` makes, inserted; held
    /// by a ``GCHandle``.
    ///
    /// See ``value(forKey:orInsert:)``.
    ///
    /// - Parameters:
    ///   - key: The key object.
    ///   - makeValue: Makes the value to insert.
    /// - Returns: A handle to the value of the entry for `key`.
    /// - Throws: What `makeValue` throws; ``GCError/outOfMemory(byteCount:)``.
    public func handle(forKey key: GCRoot, orInsert makeValue: () throws -> GCRoot) throws -> GCHandle {
        var made: GCRoot? = nil
        let value = try unsafeValue(forKey: key.unsafeAddress) {
            let root = try makeValue()
            made = root
            return root.unsafeAddress
        }
        let handle = GCHandle(rooting: value)
        withExtendedLifetime((key, made)) {}
        return handle
    }

    /// The value for `key`, or the value `makeValue` makes, inserted, with
    /// raw addresses.
    ///
    /// See ``value(forKey:orInsert:)``.
    ///
    /// - Precondition: `key`, and the object `makeValue` returns, are starts
    ///   of GC heap objects that the caller keeps reachable until the call
    ///   returns (the address `makeValue` returns is on the stack until
    ///   then).
    /// - Parameters:
    ///   - key: The key object's address.
    ///   - makeValue: Makes the value to insert.
    /// - Returns: The value's address: the one found, or the one `makeValue`
    ///   made; only the caller's stack keeps it alive after the call.
    /// - Throws: What `makeValue` throws; ``GCError/outOfMemory(byteCount:)``.
    public func unsafeValue(
        forKey key: UnsafeMutableRawPointer, orInsert makeValue: () throws -> UnsafeMutableRawPointer
    ) throws -> UnsafeMutableRawPointer {
        enterCollector()
        var observed: UInt? = nil
        if layout == .identity {
            if let (found, value, version) = optimisticLookup(key) {
                if found, let value { return value }
                observed = version
            }
        } else {
            let equals = hashing.equals.unsafelyUnwrapped
            let hash = WeakTableState.contentHash(hashing.hash.unsafelyUnwrapped(UnsafeRawPointer(key)))
            switch optimisticContentLookup(hash, { $0 == UnsafeRawPointer(key) || equals($0, key) }) {
            case .found(let value): return value
            case .absent(let version): observed = version
            case .interfered: break
            }
        }
        let value = try makeValue()
        let new = entry(value, forKey: key)
        let outcome: WeakTableState.InsertOutcome
        if layout == .identity {
            outcome = try upsert(new, onMatch: .keep, absentAt: observed) { _, _, word in word == new.keyWord }
        } else {
            outcome = try upsert(new, onMatch: .keep, absentAt: observed) { state, i, _ in
                state.keyEquals(i, hash: new.hash, key)
            }
        }
        shim_keepAlive(key)
        if case .existing(let existing) = outcome { return existing }
        shim_keepAlive(value)
        return value
    }

    /// The value of the live entry whose key has hash `hash` and satisfies
    /// `matches`, or, if there is none, the value of the entry `make`
    /// makes, inserted; held by a ``GCHandle``.
    ///
    /// Interning by content: look the name up by its bytes, and make the
    /// key and the value (say, a string object and a symbol) only when it
    /// is absent. Linearizable, as ``value(forKey:orInsert:)``: threads that
    /// race to intern the same content all get the one value inserted.
    /// `make` runs outside the lock and may run on each racing thread; its
    /// key must have hash `hash` and satisfy `matches`. See
    /// ``unsafeValue(hash:where:)`` for `hash` and `matches`; `matches` runs
    /// under the lock only when another writer ran between the lock-free
    /// lookup and the insert.
    ///
    /// - Precondition: the table hashes by content.
    /// - Parameters:
    ///   - hash: The hash of the key looked for.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    ///   - make: Makes the key and the value to insert.
    /// - Returns: A handle to the value of the entry.
    /// - Throws: What `make` throws (the table is unchanged);
    ///   ``GCError/outOfMemory(byteCount:)`` if the table must grow and
    ///   cannot.
    public func handle(
        hash: Int, where matches: (UnsafeRawPointer) -> Bool,
        orInsert make: () throws -> (key: GCRoot, value: GCRoot)
    ) throws -> GCHandle {
        var made: (key: GCRoot, value: GCRoot)? = nil
        let value = try unsafeValue(hash: hash, where: matches) {
            let entry = try make()
            made = entry
            return (entry.key.unsafeAddress, entry.value.unsafeAddress)
        }
        let handle = GCHandle(rooting: value)
        withExtendedLifetime(made) {}
        return handle
    }

    /// The value of the live entry whose key has hash `hash` and satisfies
    /// `matches`, or the value of the entry `make` makes, inserted, with raw
    /// addresses.
    ///
    /// See ``handle(hash:where:orInsert:)``.
    ///
    /// - Precondition: the table hashes by content; the objects `make`
    ///   returns are starts of GC heap objects (their addresses stay on the
    ///   stack until the call returns).
    /// - Parameters:
    ///   - hash: The hash of the key looked for.
    ///   - matches: Whether the stored key at the given address is the one
    ///     looked for.
    ///   - make: Makes the key and the value to insert.
    /// - Returns: The value's address; only the caller's stack keeps it
    ///   alive after the call.
    /// - Throws: What `make` throws; ``GCError/outOfMemory(byteCount:)``.
    public func unsafeValue(
        hash: Int, where matches: (UnsafeRawPointer) -> Bool,
        orInsert make: () throws -> (key: UnsafeMutableRawPointer, value: UnsafeMutableRawPointer)
    ) throws -> UnsafeMutableRawPointer {
        enterCollector()
        requireContentHashing()
        let hash = WeakTableState.contentHash(hash)
        return try getOrInsert(hash: hash, where: matches) {
            let (key, value) = try make()
            return WeakTableState.NewEntry(
                keyWord: weakKeys ? shim_hide(key) : UInt(bitPattern: key),
                valueWord: weakValues ? shim_hide(value) : UInt(bitPattern: value), hash: hash, key: key,
                value: value)
        }
    }

    // MARK: Internals

    /// The get-or-insert of content lookups (tables and sets): a lock-free
    /// lookup, then, if absent, `make` outside the lock, then an insert that
    /// keeps an entry another thread inserted meanwhile.
    @inline(__always)
    func getOrInsert(
        hash: UInt, where matches: (UnsafeRawPointer) -> Bool, make: () throws -> WeakTableState.NewEntry
    ) throws -> UnsafeMutableRawPointer {
        let (found, observed) = lookupBeforeInsert(hash: hash, where: matches)
        if let found { return found }
        return try insertKeeping(try make(), absentAt: observed, where: matches)
    }

    /// The first half of a get-or-insert: the value found, or the version at
    /// which the lock-free probe found nothing (nil if a writer interfered).
    @inline(__always)
    func lookupBeforeInsert(
        hash: UInt, where matches: (UnsafeRawPointer) -> Bool
    ) -> (found: UnsafeMutableRawPointer?, absentAt: UInt?) {
        switch optimisticContentLookup(hash, matches) {
        case .found(let value): return (value, nil)
        case .absent(let version): return (nil, version)
        case .interfered: return (nil, nil)
        }
    }

    /// The second half: inserts `new` unless a live entry matches, and
    /// returns the value (for a set, the element) of the entry that is in the
    /// table: the one found, or `new`'s.
    @inline(__always)
    func insertKeeping(
        _ new: WeakTableState.NewEntry, absentAt observed: UInt?, where matches: (UnsafeRawPointer) -> Bool
    ) throws(GCError) -> UnsafeMutableRawPointer {
        let hash = new.hash
        let outcome = try upsert(new, onMatch: .keep, absentAt: observed) { state, i, _ in
            state.keyMatches(i, hash: hash, matches)
        }
        if case .existing(let existing) = outcome { return existing }
        shim_keepAlive(new.key)
        return new.value
    }

    /// Removes the live entry whose key has the given content hash and
    /// matches; returns its value (for a set, its element).
    func removeMatching(hash: Int, where matches: (UnsafeRawPointer) -> Bool) -> UnsafeMutableRawPointer? {
        enterCollector()
        requireContentHashing()
        let hash = WeakTableState.contentHash(hash)
        return mutate { state in
            let slot = state.findSlot(hash: hash) { state, i, _ in state.keyMatches(i, hash: hash, matches) }
            guard let slot else { return nil }
            return state.detach(slot)
        }
    }

    /// Traps unless the table finds keys by content (a table made with
    /// ``Hashing/content(hash:equals:)``, or a set's).
    @inline(__always)
    func requireContentHashing() {
        if layout == .identity {
            fatalError(
                "GCWeakTable: lookups by hash and match need a table that hashes by content (Hashing.content)")
        }
    }
}
