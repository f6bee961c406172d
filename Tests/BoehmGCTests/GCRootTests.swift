import BoehmGC
import TestSupport
import Testing

@Suite struct GCRootTests {
    // The failure GCRoot exists for: addresses kept only in Swift memory
    // (an array's storage) do not keep their objects alive.
    @Test func objectsKeptOnlyBySwiftMemoryAreCollected() throws {
        let (addresses, links) = try unrootedObjectsRememberedInSwiftArray(1_000)
        collectAndDrain()
        let collected = links.count { $0.isCleared }
        print("kept only in a Swift array: \(collected) of 1000 collected")
        #expect(collected >= 900, "kept only in a Swift array: \(collected) of 1,000 collected")
        withExtendedLifetime(addresses) {}
    }

    @Test func rootedObjectsSurviveHundredCollectionsIntact() throws {
        var roots: [GCRoot] = []
        for i in 0..<1_000 {
            let root = try GCRoot(byteCount: 64)
            root.withUnsafeMutableBytes { $0.storeBytes(of: i &* 7919, as: Int.self) }
            roots.append(root)
        }
        final class Holder {
            let root: GCRoot
            init(_ r: GCRoot) { root = r }
        }
        let inClass = Holder(roots[0])
        let inClosure = { [root = roots[1]] in root.withUnsafeMutableBytes { $0.load(as: Int.self) } }
        for _ in 0..<100 {
            GC.collect()
            _ = try GCRoot(byteCount: 4_096)  // churn so freed memory is reused
        }
        let intact = roots.enumerated().allSatisfy { i, r in
            r.withUnsafeMutableBytes { $0.load(as: Int.self) } == i &* 7919
        }
        #expect(intact)
        #expect(inClass.root.withUnsafeMutableBytes { $0.load(as: Int.self) } == 0)
        #expect(inClosure() == 7919)
    }

    @Test func rootsCrossAwaitAndThreads() async throws {
        let root = try GCRoot(byteCount: 32)
        root.withUnsafeMutableBytes { $0.storeBytes(of: 0x5EED, as: Int.self) }
        for round in 0..<100 {
            await Task.yield()
            let seen = await Task.detached {
                GC.collect()
                return root.withUnsafeMutableBytes { $0.load(as: Int.self) }
            }.value
            #expect(seen == 0x5EED, "round \(round)")
            if seen != 0x5EED { break }
        }
    }

    @Test func referencesBetweenObjectsKeepTargetsAlive() throws {
        let head = try GCRoot(byteCount: 16)
        var node = head
        for i in 1...1_000 {
            let next = try GCRoot(byteCount: 16)
            next.withUnsafeMutableBytes { $0.storeBytes(of: i, toByteOffset: 8, as: Int.self) }
            try node.setReference(next, at: 0)
            node = next
        }
        node = head
        collectAndDrain()
        var count = 0
        var cursor: GCRoot? = try head.reference(at: 0)
        while let current = cursor {
            count += 1
            #expect(current.withUnsafeMutableBytes { $0.load(fromByteOffset: 8, as: Int.self) } == count)
            cursor = try current.reference(at: 0)
        }
        #expect(count == 1_000)
    }

    @Test func bytesReadBackThroughEveryView() throws {
        let root = try GCRoot(byteCount: 24)
        root.withUnsafeMutableBytes { $0.storeBytes(of: 0x1234, toByteOffset: 16, as: Int.self) }
        #expect(root.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int.self) } == 0x1234)
        #expect(root.withUnsafeBytes(\.count) == 24)
        let handle = GCHandle(root)
        #expect(handle.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int.self) } == 0x1234)
        let block = try GCUncollectable(byteCount: 8)
        block.withUnsafeMutableBytes { $0.storeBytes(of: 7, as: Int.self) }
        #expect(block.withUnsafeBytes { $0.load(as: Int.self) } == 7)
    }

    @Test func rootingARawAddressRequiresAnObjectStart() throws {
        let root = try GCRoot(byteCount: 64)
        let malloced = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { malloced.deallocate() }
        for address in [root.unsafeAddress + 8, malloced] {
            #expect(throws: GCError.self) { try GCRoot(unsafeAddress: address) }
            #expect(throws: GCError.self) { _ = try GCHandle(unsafeAddress: address).unsafeAddress }
        }
        let again = try GCRoot(unsafeAddress: root.unsafeAddress)
        #expect(again.refersToSameObject(as: root))
        let handle = try GCHandle(unsafeAddress: root.unsafeAddress)
        let same = handle.refersToSameObject(as: root)
        #expect(same)
    }

    @inline(never)
    private func unrootedObjectsRememberedInSwiftArray(_ count: Int) throws -> ([UInt], [GCWeakReference]) {
        var addresses: [UInt] = []
        var links: [GCWeakReference] = []
        for _ in 0..<count {
            let root = try GCRoot(byteCount: 32)
            addresses.append(UInt(bitPattern: root.unsafeAddress))
            links.append(try GCWeakReference(root))
        }
        return (addresses, links)
    }
}

@Suite struct GCHandleTests {
    @Test func handlesKeepTheirObjectsAndBecomeRoots() throws {
        let table = try GCWeakTable(weakness: .keys)
        let key = try GCRoot(byteCount: 16)
        let value = try GCRoot(byteCount: 32)
        value.withUnsafeMutableBytes { $0.storeBytes(of: 42, as: Int.self) }
        try table.setValue(value, forKey: key)
        guard let handle = table.handle(forKey: key) else {
            Issue.record("no handle for a live entry")
            return
        }
        let same = handle.refersToSameObject(as: value)
        let word = handle.withUnsafeMutableBytes { $0.load(as: Int.self) }
        let size = handle.byteCount
        #expect(same && word == 42 && size >= 32, "same object \(same), word \(word), size \(size)")
        let keyHandle = GCHandle(key)
        let again = table.handle(forKey: keyHandle)?.refersToSameObject(as: value)
        #expect(again == true)
        let root = GCRoot(handle)
        #expect(root.refersToSameObject(as: value))
        let missing = table.handle(forKey: try GCRoot(byteCount: 16)) == nil
        #expect(missing)
    }

    /// An object held only by a handle survives collections; once the
    /// handle is gone it can be collected.
    @Test func aHandleIsARoot() throws {
        let weak: GCWeakReference
        do {
            let handle = try objectHeldByAHandle()
            weak = try GCWeakReference(GCRoot(unsafeAddress: handle.unsafeAddress))
            collectAndDrain()
            #expect(!weak.isCleared, "an object held by a handle was collected")
            let word = handle.withUnsafeMutableBytes { $0.load(as: Int.self) }
            #expect(word == 7)
        }
        withExtendedLifetime(weak) {}
    }
}

/// Makes an object held only by a handle, in a frame of its own.
@inline(never)
func objectHeldByAHandle() throws -> GCHandle {
    let object = try GC.unsafeAllocate(byteCount: 16)
    object.storeBytes(of: 7, as: Int.self)
    return try GCHandle(unsafeAddress: object)
}

@Suite struct GCBoxTests {
    struct Point: BitwiseCopyable, Equatable {
        var x: Double
        var y: Double
    }

    /// A C-like struct with a GC pointer in it.
    struct Node: BitwiseCopyable {
        var payload: Int
        var next: UnsafeMutableRawPointer?
    }

    @Test func valuesAreReadAndWrittenInPlace() throws {
        let box = try GCBox(Point(x: 1, y: 2))
        box.value.x += 1
        let copy = box
        copy.value.y = 5
        #expect(box.value == Point(x: 2, y: 5), "copies share one object")
        let view = try GCBox<Point>(viewing: box.root)
        #expect(view.value == box.value)
    }

    /// A scanned box keeps what its value points to alive.
    @Test func aScannedBoxKeepsItsPointees() throws {
        let head = try GCBox(Node(payload: 1, next: nil), kind: .scanned)
        let weak = try linkFreshNode(to: head)
        collectAndDrain()
        #expect(!weak.isCleared, "the node reachable only through the box was collected")
        let next = try #require(head.value.next)
        #expect(next.load(as: Int.self) == 2)
    }
}

/// Links a new node, reachable only through `head`, and returns a weak
/// reference to it; in a frame of its own.
@inline(never)
func linkFreshNode(to head: GCBox<GCBoxTests.Node>) throws -> GCWeakReference {
    let node = try GCBox(GCBoxTests.Node(payload: 2, next: nil), kind: .scanned)
    head.withUnsafeMutablePointer { $0.pointee.next = node.root.unsafeAddress }
    return try GCWeakReference(node.root)
}
