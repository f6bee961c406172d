import BoehmGC
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
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
            print(
                "short cleared \(shortCleared), long cleared before finalizers \(longClearedBeforeFinalizers), "
                    + "after \(longClearedAfter), finalized \(finalized.count)")
            let ok = shortCleared >= 90 && longClearedBeforeFinalizers == 0 && longClearedAfter >= 90
            exit(ok && finalized.count >= 90 ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
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
