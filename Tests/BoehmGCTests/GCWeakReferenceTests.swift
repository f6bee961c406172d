import BoehmGC
import TestSupport
import Testing

@Suite struct GCWeakReferenceTests {
    @Test func weakReferenceFollowsItsTargetWhileRooted() throws {
        let target = try GCRoot(byteCount: 16)
        target.withUnsafeMutableBytes { $0.storeBytes(of: 77, as: Int.self) }
        let weak = try GCWeakReference(target)
        collectAndDrain()
        let again = try #require(weak.target)
        #expect(again.refersToSameObject(as: target))
        #expect(again.withUnsafeMutableBytes { $0.load(as: Int.self) } == 77)
    }

    @Test func shortLinksClearWhenTargetsDie() throws {
        let links = try makeUnrootedObjects(200)
        scrubStack()
        collectAndDrain()
        let cleared = links.count { $0.isCleared }
        print("short links cleared: \(cleared) of 200")
        #expect(cleared >= 190)
        #expect(links.filter(\.isCleared).allSatisfy { $0.target == nil })
    }

    // A finalizer resurrects its object for the finalizer's run: a short
    // link is cleared before the finalizer runs, a long one only once the
    // object is really reclaimed. In a process of its own, with finalizers
    // run only at GC.runFinalizers(): parallel suites would otherwise run
    // them, and collect again, between our steps.
    @Test func longLinksOutliveFinalizationShortLinksDoNot() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(finalizerMode: .explicitOnly))
            let finalized = Counter()
            let pairs = try! makeFinalizableObjectsWithBothLinks(100, finalized: finalized)
            scrubStack()
            GC.collect()  // finds them unreachable, queues their finalizers
            let shortCleared = pairs.count { $0.short.isCleared }
            let longClearedBeforeFinalizers = pairs.count { $0.long.isCleared }
            GC.runFinalizers()
            collectAndDrain()
            let longClearedAfter = pairs.count { $0.long.isCleared }
            report.check(shortCleared >= 90, "short links cleared by the collection: \(shortCleared) of 100")
            report.check(
                longClearedBeforeFinalizers == 0,
                "long links cleared before the finalizers ran: \(longClearedBeforeFinalizers) of 100")
            report.check(longClearedAfter >= 90, "long links cleared after them: \(longClearedAfter) of 100")
            report.check(finalized.count >= 90, "finalized: \(finalized.count) of 100")
            report.exit()
        }
        report.show()
    }
}

@inline(never)
private func makeFinalizableObjectsWithBothLinks(
    _ count: Int, finalized: Counter
) throws -> [(short: GCWeakReference, long: GCWeakReference)] {
    var pairs: [(short: GCWeakReference, long: GCWeakReference)] = []
    for _ in 0..<count {
        let object = try GCRoot(byteCount: 32)
        try object.setFinalizer { _ in finalized.increment() }
        pairs.append((try GCWeakReference(object, strength: .short), try GCWeakReference(object, strength: .long)))
    }
    return pairs
}
