import BoehmGC
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The table an equality closure calls back into, set after the table is
/// made (the closures are made first).
///
/// `@unchecked Sendable`: set once, before any closure runs.
private final class TableBox: @unchecked Sendable {
    var table: GCWeakTable?
}

/// Documented misuse ends the process with a message that names the rule,
/// never with a hang: each shape runs in a child process, which an alarm
/// ends (SIGALRM, and no message) if it waits instead; the parent checks the
/// child's standard error for the rule. With plain mutexes each child waited
/// for itself until the alarm.
@Suite struct MisuseTests {
    /// The text of a child's standard error.
    static func standardError(_ result: ExitTest.Result?) -> String {
        String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    }

    /// How the child ended, and the end of its standard error.
    static func describe(_ result: ExitTest.Result?) -> Comment {
        let status = result.map { "\($0.exitStatus)" } ?? "no result"
        return "the child ended with \(status); its standard error ends: \(standardError(result).suffix(400))"
    }

    /// A post-GC hook that runs the finalizers (on the hook thread, while a
    /// finalizer of the batch it would wait for runs them too): the rule,
    /// not the deadlock a user met.
    @Test func runFinalizersFromAHook() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            for _ in 0..<100 {
                let object = try! GCRoot(byteCount: 16)
                try! object.setFinalizer { _ in GC.runFinalizers() }
            }
            let hook = try! PostGCHook { _ in GC.runFinalizers() }
            for _ in 0..<1_000 { GC.collect() }
            withExtendedLifetime(hook) {}
        }
        let text = Self.standardError(result)
        #expect(
            text.contains("GC.runFinalizers() (bgc_run_finalizers) was called from a post-GC hook"),
            Self.describe(result))
    }

    /// A match closure that calls back into its own table (here, `count`
    /// during a removal by content, which runs it under the table's lock).
    @Test func matchClosureUsingItsOwnTable() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            let table = try! GCWeakTable(
                weakness: .keys,
                hashing: .content(
                    hash: { $0.load(as: Int.self) }, equals: { $0.load(as: Int.self) == $1.load(as: Int.self) }))
            let key = try! GCRoot(byteCount: 16)
            try! table.setValue(key, forKey: key)
            table.unsafeRemoveValue(hash: 0) { _ in table.count > 0 }
            withExtendedLifetime(key) {}
        }
        let text = Self.standardError(result)
        #expect(
            text.contains("GCWeakTable/GCWeakSet: an equality or match closure used its own table or set"),
            Self.describe(result))
    }

    /// An equality closure that inserts into its own table.
    @Test func equalityClosureUsingItsOwnTable() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            let box = TableBox()
            let table = try! GCWeakTable(
                weakness: .values,
                hashing: .content(
                    hash: { _ in 7 },
                    equals: { a, b in
                        if let table = box.table, let other = try? GCRoot(byteCount: 16) {
                            try? table.setValue(other, forKey: other)
                        }
                        return a.load(as: Int.self) == b.load(as: Int.self)
                    }))
            box.table = table
            let first = try! GCRoot(byteCount: 16)
            let second = try! GCRoot(byteCount: 16)
            try! table.setValue(first, forKey: first)
            try! table.setValue(second, forKey: second)  // same hash: equality runs
            withExtendedLifetime((first, second)) {}
        }
        let text = Self.standardError(result)
        #expect(
            text.contains("GCWeakTable/GCWeakSet: an equality or match closure used its own table or set"),
            Self.describe(result))
    }

    /// `close()` on a resource inside its own `withHandle` body.
    @Test func closingAResourceInsideItsOwnWithHandle() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            let resource = try! ForeignResource<Int>(
                byteCount: 0, release: .finalizer, open: { 42 }, close: { _ in })
            _ = try! resource.withHandle { _ in resource.close() }
        }
        let text = Self.standardError(result)
        #expect(
            text.contains("ForeignResource: the resource was used inside its own withHandle body"),
            Self.describe(result))
    }

    /// `withHandle` on a resource inside its own `withHandle` body.
    @Test func nestedWithHandleOnTheSameResource() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            let resource = try! ForeignResource<Int>(
                byteCount: 0, release: .finalizer, open: { 42 }, close: { _ in })
            try! resource.withHandle { _ in try resource.withHandle { _ in } }
        }
        let text = Self.standardError(result)
        #expect(
            text.contains("ForeignResource: the resource was used inside its own withHandle body"),
            Self.describe(result))
    }

    /// A lookup by hash and match on a table that hashes by identity.
    @Test func lookupByHashOnAnIdentityTable() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            let table = try! GCWeakTable(weakness: .keys)
            _ = table.unsafeValue(hash: 1) { _ in true }
        }
        let text = Self.standardError(result)
        #expect(
            text.contains("GCWeakTable: lookups by hash and match need a table that hashes by content"),
            Self.describe(result))
    }
}
