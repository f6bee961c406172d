import BoehmGC
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct AllocationTests {
    @Test(arguments: [GCMemoryKind.scanned, .pointerFree])
    func allocationsAreZeroed(kind: GCMemoryKind) throws {
        // Dirty freed memory first so a missing clear would show.
        for _ in 0..<200 {
            let root = try GCRoot(byteCount: 256, kind: kind)
            root.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xAB) }
        }
        GC.collect()
        var nonZero = 0
        for _ in 0..<200 {
            let root = try GCRoot(byteCount: 256, kind: kind)
            nonZero += root.withUnsafeMutableBytes { bytes in bytes.count { $0 != 0 } }
        }
        #expect(nonZero == 0)
    }

    @Test func reallocateKeepsBytesAndKind() throws {
        let object = try GC.unsafeAllocate(byteCount: 32)
        object.storeBytes(of: 42, as: Int.self)
        let grown = try GC.unsafeReallocate(object, byteCount: 8_192)
        #expect(grown.load(as: Int.self) == 42)
        // Scanned memory added is zeroed.
        let added = UnsafeRawBufferPointer(start: grown + 32, count: 8_192 - 32)
        #expect(added.allSatisfy { $0 == 0 })
        // A pointer stored in the grown scanned object keeps its target alive.
        let holder = try GCRoot(unsafeAddress: grown)
        let links = try fill(holder, count: 100)
        collectAndDrain()
        #expect(links.allSatisfy { !$0.isCleared })
        withExtendedLifetime(holder) {}
        let fresh = try GC.unsafeReallocate(nil, byteCount: 16)
        #expect(fresh.load(as: Int.self) == 0)
        #expect(throws: GCError.invalidArgument("byteCount must not be negative, got -1")) {
            try GC.unsafeReallocate(fresh, byteCount: -1)
        }
        #expect(throws: GCError.self) { try GC.unsafeReallocate(fresh + 8, byteCount: 64) }
    }

    @Test func freeReleasesAnObjectNow() throws {
        var freed = 0
        for _ in 0..<100 {
            let object = try GC.unsafeAllocate(byteCount: 4_096, kind: .pointerFree)
            try GC.unsafeFree(object)
            // libgc hands a freed block out again at once.
            let next = try GC.unsafeAllocate(byteCount: 4_096, kind: .pointerFree)
            if next == object { freed += 1 }
        }
        #expect(freed >= 90, "\(freed) of 100 freed blocks handed out again at once")
        let malloced = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { malloced.deallocate() }
        #expect(throws: GCError.self) { try GC.unsafeFree(malloced) }
    }

    @Test func pointerFreeMemoryDoesNotKeepTargetsAlive() throws {
        let holder = try GCRoot(byteCount: 8 * 100, kind: .pointerFree)
        let links = try fill(holder, count: 100)
        collectAndDrain()
        let alive = links.count { !$0.isCleared }
        print("pointer-free holder: \(alive) of 100 targets still alive")
        #expect(alive <= 10)
    }

    @Test func scannedMemoryKeepsTargetsAlive() throws {
        let holder = try GCRoot(byteCount: 8 * 100, kind: .scanned)
        let links = try fill(holder, count: 100)
        collectAndDrain()
        #expect(links.allSatisfy { !$0.isCleared })
        withExtendedLifetime(holder) {}
    }

    @Test func uncollectableMemoryIsScannedAndFreedExplicitly() throws {
        let block = try GCUncollectable(byteCount: 8 * 50)
        var links: [GCWeakReference] = []
        for i in 0..<50 {
            let target = try GCRoot(byteCount: 16)
            links.append(try GCWeakReference(target))
            block.withUnsafeMutableBytes {
                $0.storeBytes(of: target.unsafeAddress, toByteOffset: i * 8, as: UnsafeMutableRawPointer.self)
            }
        }
        collectAndDrain()
        #expect(links.allSatisfy { !$0.isCleared })
        block.free()
        collectAndDrain()
        let alive = links.count { !$0.isCleared }
        print("after freeing the uncollectable block: \(alive) of 50 targets alive")
        #expect(alive <= 5)
    }

    @Test func negativeSizeIsAnError() {
        #expect(throws: GCError.invalidArgument("byteCount must not be negative, got -1")) {
            _ = try GCRoot(byteCount: -1)
        }
    }

    // A fresh process with a small heap limit: the allocation that does not
    // fit throws, everything stored before is intact, and after dropping
    // some data allocation works again.
    @Test func exhaustionThrowsInsteadOfAborting() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(maximumHeapSize: 32 << 20))
            var kept: [GCRoot] = []
            var failure: (any Error)?
            while failure == nil {
                do {
                    let root = try GCRoot(byteCount: 256 << 10, kind: .pointerFree)
                    root.withUnsafeMutableBytes { $0.storeBytes(of: kept.count, as: Int.self) }
                    kept.append(root)
                } catch {
                    failure = error
                }
            }
            report.check(
                failure as? GCError == .outOfMemory(byteCount: 256 << 10),
                "after \(kept.count) objects of 256 KiB under a 32 MiB limit: \(failure.map { "\($0)" } ?? "no error")")
            let intact = kept.enumerated().count { i, r in r.withUnsafeMutableBytes { $0.load(as: Int.self) } == i }
            report.check(intact == kept.count, "\(intact) of \(kept.count) objects intact")
            kept.removeLast(kept.count / 2)
            GC.collect()
            let again = (try? GCRoot(byteCount: 256 << 10, kind: .pointerFree)) != nil
            report.check(again, "an allocation after dropping half of them and collecting: \(again)")
            report.exit()
        }
        report.show()
    }

    @inline(never)
    private func fill(_ holder: GCRoot, count: Int) throws -> [GCWeakReference] {
        var links: [GCWeakReference] = []
        for i in 0..<count {
            let target = try GCRoot(byteCount: 16)
            links.append(try GCWeakReference(target))
            holder.withUnsafeMutableBytes {
                $0.storeBytes(of: target.unsafeAddress, toByteOffset: i * 8, as: UnsafeMutableRawPointer.self)
            }
        }
        return links
    }
}
