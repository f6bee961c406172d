// The interning workload of weak-table-bench: N names, borrowed as bytes
// from one malloc'd buffer, interned as symbols (pointer-free GC objects:
// the name's length in word 0, then its bytes) in a GCWeakSet, the shape of
// Guile's symbol table, and in a weak-value GCWeakTable from name objects to
// symbols, the shape of the first try.
import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// The names "sym-0" ... "sym-(n-1)", back to back in one malloc'd buffer.
///
/// `@unchecked Sendable`: written once in init, then only read (by the
/// threaded figures).
final class Names: @unchecked Sendable {
    let count: Int
    let bytes: UnsafeMutableRawPointer
    /// Where name i starts; name i ends where name i+1 starts.
    let starts: UnsafeMutablePointer<Int>

    init(_ count: Int) {
        self.count = count
        let all = (0..<count).map { Array("sym-\($0)".utf8) }
        let total = all.reduce(0) { $0 + $1.count }
        bytes = .allocate(byteCount: max(total, 1), alignment: 8)
        starts = .allocate(capacity: count + 1)
        var offset = 0
        for (i, name) in all.enumerated() {
            starts[i] = offset
            name.withUnsafeBytes { (bytes + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            offset += name.count
        }
        starts[count] = offset
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
    }

    /// Name i, borrowed.
    @inline(__always)
    subscript(i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + starts[i], count: starts[i + 1] - starts[i])
    }
}

/// The hash names are interned with: a word at a time, multiply and
/// xor-shift (the mixing steps of MurmurHash3's finalizer), so a name of a
/// dozen bytes costs a few nanoseconds. Any hash will do, so long as lookups
/// and inserts use the same.
@inline(__always)
func nameHash(_ name: UnsafeRawBufferPointer) -> Int {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(name.count)
    var i = 0
    let base = name.baseAddress!
    while i + 8 <= name.count {
        h = (h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 32
        i += 8
    }
    if i < name.count {
        var tail: UInt64 = 0
        withUnsafeMutableBytes(of: &tail) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: name[i...])) }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 29
    }
    return Int(bitPattern: UInt(h))
}

/// Whether the object at `object` ([length][bytes]) holds `name`.
@inline(__always)
func holdsName(_ object: UnsafeRawPointer, _ name: UnsafeRawBufferPointer) -> Bool {
    object.load(as: Int.self) == name.count && memcmp(object + 8, name.baseAddress!, name.count) == 0
}

/// A new pointer-free GC object holding `name` ([length][bytes]).
@inline(__always)
func makeNameObject(_ name: UnsafeRawBufferPointer) throws -> UnsafeMutableRawPointer {
    let object = try GC.unsafeAllocate(byteCount: 8 + name.count, kind: .pointerFree)
    object.storeBytes(of: name.count, as: Int.self)
    (object + 8).copyMemory(from: name.baseAddress!, byteCount: name.count)
    return object
}

/// Interns name `i` of `names` in `symbols`: the symbol there, or a new one.
@inline(__always)
func intern(_ i: Int, of names: Names, in symbols: GCWeakSet) throws -> UnsafeMutableRawPointer {
    let name = names[i]
    return try symbols.unsafeElement(
        hash: nameHash(name), where: { holdsName($0, name) }, orInsert: { try makeNameObject(name) })
}

/// The symbol of name `i` in `symbols`, or nil: a lookup by borrowed bytes.
@inline(__always)
func lookUp(_ i: Int, of names: Names, in symbols: GCWeakSet) -> UnsafeMutableRawPointer? {
    let name = names[i]
    return symbols.unsafeElement(hash: nameHash(name)) { holdsName($0, name) }
}

/// Content hashing of name objects, agreeing with `nameHash` on bytes.
let nameObjectHashing = GCWeakTable.Hashing.content(
    hash: { nameHash(UnsafeRawBufferPointer(start: $0 + 8, count: $0.load(as: Int.self))) },
    equals: { a, b in holdsName(a, UnsafeRawBufferPointer(start: b + 8, count: b.load(as: Int.self))) })
