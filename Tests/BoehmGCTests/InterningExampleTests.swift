import BoehmGC
import TestSupport
import Testing

// The interning example of the weak-table article (WeakTables.md), and the
// weak set of the README's weak-table section, verbatim, so that they
// compile; the tests run them.

/// A symbol: a pointer-free GC object, the name's length in word 0, then its bytes.
func makeSymbol(_ name: UnsafeRawBufferPointer) throws -> GCRoot {
    let symbol = try GCRoot(byteCount: 8 + name.count, kind: .pointerFree)
    symbol.withUnsafeMutableBytes { bytes in
        bytes.storeBytes(of: name.count, as: Int.self)
        UnsafeMutableRawBufferPointer(rebasing: bytes[8...]).copyMemory(from: name)
    }
    return symbol
}

/// Whether the symbol at `symbol` has the name `name`.
func hasName(_ symbol: UnsafeRawPointer, _ name: UnsafeRawBufferPointer) -> Bool {
    symbol.load(as: Int.self) == name.count
        && name.elementsEqual(UnsafeRawBufferPointer(start: symbol + 8, count: name.count))
}

/// The hash of a name's bytes: any hash, the same for equal bytes.
func nameHash(_ name: UnsafeRawBufferPointer) -> Int {
    var hasher = Hasher()
    hasher.combine(bytes: name)
    return hasher.finalize()
}

/// The one symbol named `name`, made if there is none.
func intern(_ name: String, in symbols: GCWeakSet) throws -> GCRoot {
    var name = name
    return try name.withUTF8 { utf8 in
        let bytes = UnsafeRawBufferPointer(utf8)
        return GCRoot(
            try symbols.handle(
                hash: nameHash(bytes), where: { hasName($0, bytes) }, orInsert: { try makeSymbol(bytes) }))
    }
}

@Suite struct InterningExampleTests {
    /// Four threads intern the same 500 names through the example: each name
    /// gives one symbol, the same on every thread.
    @Test func theExampleInternsOneSymbolPerName() throws {
        let symbols = try GCWeakSet()
        let names = (0..<500).map { "name-\($0)" }
        let results = Locked<[[GCRoot]]>([])
        onThreads(4) { _ in
            let mine = names.map { try! intern($0, in: symbols) }
            results.withLock { $0.append(mine) }
        }
        let all = results.value
        let differing = (0..<names.count).count { i in !all.allSatisfy { $0[i].refersToSameObject(as: all[0][i]) } }
        #expect(differing == 0)
        #expect(symbols.count == names.count)
        let again = try intern("name-7", in: symbols)
        #expect(again.refersToSameObject(as: all[0][7]))
    }

    /// The README's weak-set lines.
    @Test func theREADMEWeakSetLines() throws {
        let symbols = try GCWeakSet()  // held weakly, found by a hash and a match
        let id = 42  // look up by anything: a value, borrowed bytes
        let symbol = try symbols.handle(
            hash: id.hashValue, where: { $0.load(as: Int.self) == id },
            orInsert: {
                let made = try GCRoot(byteCount: 16, kind: .pointerFree)  // made only when absent
                made.withUnsafeMutableBytes { $0.storeBytes(of: id, as: Int.self) }
                return made
            })
        let again = symbols.handle(hash: id.hashValue) { $0.load(as: Int.self) == id }
        #expect(again?.unsafeAddress == symbol.unsafeAddress)
        #expect(symbols.count == 1)
    }
}
