import BoehmGC
import Foundation
import TestSupport
import Testing

@Suite struct HeapLimitTests {
    /// Fill to the limit, catch the error, drop half, collect, allocate
    /// again; the child checks every surviving object (pattern words, and
    /// the payload each scanned object alone reaches).
    @Test(arguments: [false, true])
    func fillDropRefillUnderTheLimit(runtimeLimit: Bool) async throws {
        let limitMB = 24
        let outcome = try await PressureChild.run(
            ["heap-limit", "--limit-mb", "\(limitMB)"] + (runtimeLimit ? ["--runtime-limit"] : []))
        #expect(outcome.succeeded, "\(outcome)")
        #expect(outcome.int("bad") == 0)
        let filled = outcome.int("filled")
        #expect(filled > 1000, "too few objects before the limit: \(filled)")
        #expect(outcome.int("oomByteCount") > 0)
        #expect(outcome.int("heapAtLimit") <= limitMB << 20)
        #expect(outcome.int("heapAtEnd") <= limitMB << 20)
        #expect(outcome.int("reallocated") * 2 >= outcome.int("dropped"))
        #expect(outcome.int("survivorsChecked") >= filled - outcome.int("dropped"))
        // Objects of ~4.3 KiB on average: the heap was mostly data, not
        // lost to fragmentation.
        #expect(filled * 4300 > (limitMB << 20) / 2)
    }
}

extension HeapLimitTests {
    /// A root at the heap limit: the object may not fit (an error), but the
    /// root's cell never fails there (root cells live outside the GC heap).
    /// 32-byte objects under an 8 MiB limit.
    @Test func rootsAtTheLimitThrowInsteadOfTrapping() async throws {
        let outcome = try await PressureChild.run(["roots", "--limit-mb", "8", "--byte-count", "32"])
        #expect(outcome.succeeded, "the child trapped or failed instead of throwing: \(outcome)")
    }
}

@Suite struct MemoryPressureChildTests {
    /// The churn needs about twice the heap limit. Told of pressure, the
    /// server refuses new requests until the level falls, and finishes.
    @Test func withTheMonitorTheServerShedsLoadAndFinishes() async throws {
        let outcome = try await PressureChild.run(["churn", "--monitor", "--limit-mb", "24", "--requests", "600"])
        #expect(outcome.succeeded, "\(outcome)")
        #expect(outcome.int("bad") == 0)
        #expect(outcome.int("refused") > 0, "never told of pressure")
        #expect(outcome.int("accepted") > 100, "refused nearly everything")
        #expect(outcome.int("levelChanges") >= 1)
        #expect(outcome.int("heapBytes") <= 24 << 20)
        // Bounded: about one monitor collection per level change, plus the
        // rechecks while raised.
        #expect(outcome.int("monitorCollections") <= outcome.int("samples"))
    }

    /// Collect-on-warning while the level stays raised: in a child (nothing
    /// else allocates, so each collection is a recheck charged to the time
    /// allowance), with 2 MiB live, the monitor's collections stay within
    /// 5 % of the time plus the starting allowance (two pauses) and one
    /// overrun (one pause), and rechecks do happen (the child samples until
    /// the third collection: about 20 pauses after the first two).
    @Test func collectionsWhileRaisedStayWithinTheirShare() async throws {
        let outcome = try await PressureChild.run(
            ["ration", "--share-percent", "5", "--ms", "300", "--min-collections", "3", "--live-mb", "2"])
        #expect(outcome.succeeded, "the level left warning, or the child failed: \(outcome)")
        let spent = Double(outcome.result["collectionMs"] as? String ?? "") ?? .infinity
        let bound = Double(outcome.result["boundMs"] as? String ?? "") ?? 0
        #expect(spent <= bound)
        #expect(outcome.int("collections") >= 3, "no recheck after the starting allowance")
    }

    /// The same churn without the monitor runs into the heap limit: the
    /// allocation throws GCError.outOfMemory, which the child catches and
    /// reports with exit status 3 (not a signal).
    @Test func withoutTheMonitorTheChurnGetsOutOfMemory() async throws {
        let outcome = try await PressureChild.run(["churn", "--limit-mb", "24", "--requests", "600"])
        #expect(outcome.exitStatus == 3, "\(outcome)")
        #expect((outcome.result["error"] as? String)?.contains("GC heap exhausted") == true)
        #expect(outcome.int("heapBytes") <= 24 << 20)
    }
}
