import BoehmGC
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every public numeric argument and configuration field out of range gets
/// a documented thrown error, never a trap or an abort, and nothing already
/// stored is lost.
@Suite struct ArgumentRangeTests {
    @Test func hugeAllocationsThrowOutOfMemory() {
        for size in [Int.max, Int.max / 2, 1 << 60] {
            #expect(throws: GCError.outOfMemory(byteCount: size)) { _ = try GCRoot(byteCount: size) }
            #expect(throws: GCError.outOfMemory(byteCount: size)) {
                _ = try GCRoot(byteCount: size, kind: .pointerFree)
            }
            #expect(throws: GCError.outOfMemory(byteCount: size)) { _ = try GCUncollectable(byteCount: size) }
        }
        #expect(throws: GCError.self) { _ = try GCRoot(byteCount: -1) }
    }

    @Test func referenceSlotsAndBoxViewsOutsideTheObjectThrowAndStoreNothing() throws {
        let node = try GCRoot(byteCount: 16)
        let other = try GCRoot(byteCount: 16)
        try node.setReference(other, at: 1)
        for index in [-1, 2, 5, Int.max, Int.min] {
            #expect(throws: GCError.self, "slot \(index)") { try node.setReference(nil, at: index) }
            #expect(throws: GCError.self, "slot \(index)") { _ = try node.reference(at: index) }
        }
        let kept = try #require(try node.reference(at: 1), "a refused store must leave the slots as they were")
        #expect(kept.refersToSameObject(as: other))
        #expect(throws: GCError.self) { _ = try GCBox<(Int, Int, Int, Int)>(viewing: node) }
        #expect(try GCBox<(Int, Int)>(viewing: node).root.refersToSameObject(as: node))
    }

    @Test func weakTableCapacitiesOutOfRangeThrowAndKeepTheEntries() throws {
        #expect(throws: GCError.self) { _ = try GCWeakTable(weakness: .keys, minimumCapacity: Int.max) }
        #expect(throws: GCError.self) { _ = try GCWeakTable(weakness: .keys, minimumCapacity: -1) }
        let table = try GCWeakTable(weakness: .keys)
        let keys = try (0..<100).map { _ in try GCRoot(byteCount: 16) }
        for (i, key) in keys.enumerated() {
            let value = try GCRoot(byteCount: 8, kind: .pointerFree)
            value.withUnsafeMutableBytes { $0.storeBytes(of: i, as: Int.self) }
            try table.setValue(value, forKey: key)
        }
        #expect(throws: GCError.self) { try table.reserveCapacity(Int.max) }
        #expect(throws: GCError.self) { try table.reserveCapacity(-1) }
        // In range, but far beyond memory (2^49 slots of 16 bytes): an
        // allocation failure, thrown.
        #expect(throws: GCError.outOfMemory(byteCount: 1 << 53)) {
            try table.reserveCapacity(GCWeakTable.maximumCapacity)
        }
        let intact = keys.enumerated().count { i, key in
            table[key]?.withUnsafeMutableBytes { $0.load(as: Int.self) } == i
        }
        #expect(intact == 100 && table.count == 100, "entries intact after the refusals: \(intact) of 100")
    }

    @Test func collectorSettingsOutOfRangeThrow() {
        let refused: [GC.Configuration] = [
            .init(initialHeapSize: 0), .init(maximumHeapSize: -5), .init(maximumHeapSize: Int.max),
            .init(maximumHeapSize: 1), .init(maximumHeapSize: 65_535),
            .init(initialHeapSize: 1 << 48), .init(initialHeapSize: 64 << 20, maximumHeapSize: 32 << 20),
            .init(freeSpaceDivisor: 0), .init(unscannedModules: [""]),
            .init(unscannedModules: Array(repeating: "x", count: 17)),
        ]
        for configuration in refused {
            // Refused as out of range, not as late: this process has started.
            let refusal = #expect(throws: GCError.self, "\(configuration)") { try GC.configure(configuration) }
            #expect(refusal != .alreadyInitialized, "\(configuration) was refused only as late")
        }
        #expect(throws: GCError.self) { try GC.setMaximumHeapSize(Int.max) }
        #expect(throws: GCError.self) { try GC.setMaximumHeapSize(0) }
    }

    @Test func triggerPoliciesOutOfRangeThrow() {
        let refused: [ForeignMemory.TriggerPolicy] = [
            .bytes(floor: -1), .bytes(floor: Int.max), .bytes(heapFraction: .nan), .bytes(heapFraction: -0.5),
            .bytes(heapFraction: .infinity), .objectCount(0), .objectCount(-3), .interval(.zero),
            .interval(.seconds(-1)), .interval(.seconds(Int64.max)), .either([]),
            .either([.objectCount(5), .interval(.nanoseconds(-1))]),
        ]
        for policy in refused {
            #expect(throws: GCError.self, "\(policy)") { try ForeignMemory.configure(.init(policy: policy)) }
        }
    }

    @Test func pressureSettingsOutOfRangeThrow() {
        typealias Configuration = MemoryPressureMonitor.Configuration
        let refused: [Configuration] = [
            .init(warningThreshold: .nan), .init(criticalThreshold: .infinity),
            .init(warningThreshold: 0.5, criticalThreshold: 0.4), .init(hysteresis: .nan),
            .init(samplingInterval: .seconds(Int64.max)), .init(samplingInterval: .zero),
            .init(collectionTimeShare: .nan), .init(foreignLimit: 0),
            .init(gcHeapBudget: .bytes(-1)),
        ]
        for configuration in refused {
            #expect(throws: GCError.self) { _ = try MemoryPressureMonitor(configuration) }
        }
    }

    // The live counts are process-wide: in a child of its own.
    @Test func foreignCountsNeverOverflow() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            try! ForeignMemory.add(byteCount: Int.max - 10, objects: 1)
            /// The error `add` threw, if it threw one.
            func refusal(_ add: () throws -> Void) -> ForeignMemory.AccountingError? {
                do {
                    try add()
                    return nil
                } catch {
                    return error as? ForeignMemory.AccountingError
                }
            }
            func isOverflow(_ error: ForeignMemory.AccountingError?) -> Bool {
                if case .overflow = error { true } else { false }
            }
            let bytesPastMax = refusal { _ = try ForeignMemory.add(byteCount: 11) }
            let objectsPastMax = refusal { _ = try ForeignMemory.add(byteCount: 1, objects: Int.max) }
            let negative = refusal { _ = try ForeignMemory.add(byteCount: -1) }
            func described(_ error: ForeignMemory.AccountingError?) -> String { error.map { "\($0)" } ?? "accepted" }
            report.check(isOverflow(bytesPastMax), "11 bytes past Int.max - 10: \(described(bytesPastMax))")
            report.check(isOverflow(objectsPastMax), "Int.max objects more: \(described(objectsPastMax))")
            report.check(negative == .negativeCount, "a negative byte count: \(described(negative))")
            try! ForeignMemory.add(byteCount: 10)  // exactly Int.max: allowed
            let s = ForeignMemory.statistics
            report.check(
                s.liveBytes == Int.max && s.liveObjects == 2 && s.totalBytesAdded == Int.max,
                "after adding up to Int.max bytes: \(s)")
            try! ForeignMemory.remove(byteCount: Int.max, objects: 2)
            let after = ForeignMemory.statistics.liveBytes
            report.check(after == 0, "\(after) bytes live after removing them all")
            report.exit()
        }
        report.show()
    }
}
