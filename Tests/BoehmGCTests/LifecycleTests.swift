import BoehmGC
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct LifecycleTests {
    @Test func configureAfterInitialisationThrows() throws {
        GC.initialize()
        #expect(GC.isInitialized)
        #expect(throws: GCError.alreadyInitialized) {
            try GC.configure(.init(maximumHeapSize: 1 << 30))
        }
    }

    @Test func configureRejectsNonPositiveSizes() {
        #expect(throws: GCError.invalidArgument("maximumHeapSize must be positive, got 0")) {
            try GC.configure(.init(maximumHeapSize: 0))
        }
    }

    // A fresh process: settings given before first use take effect.
    @Test func settingsBeforeInitialisationApply() async {
        await #expect(processExitsWith: .success) {
            try! GC.configure(.init(initialHeapSize: 4 << 20, maximumHeapSize: 16 << 20))
            #expect(GC.statistics.heapSize >= 4 << 20)
            var kept: [GCRoot] = []
            var refused = false
            for _ in 0..<64 {
                do { kept.append(try GCRoot(byteCount: 1 << 20, kind: .pointerFree)) } catch {
                    refused = true
                    break
                }
            }
            exit(refused && kept.count < 17 ? 0 : 1)
        }
    }

    // A fresh process where eight threads race to be first: initialisation
    // happens once, on a thread that is not the process's main thread, and
    // collections afterwards scan every thread's stack correctly.
    @Test func concurrentFirstUseFromWorkerThreads() async {
        await #expect(processExitsWith: .success) {
            await withTaskGroup(of: Bool.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        var roots: [GCRoot] = []
                        for i in 0..<2_000 {
                            let root = try! GCRoot(byteCount: 24)
                            root.withUnsafeMutableBytes { $0.storeBytes(of: t &* 10_000 &+ i, as: Int.self) }
                            roots.append(root)
                            if i % 500 == 0 { GC.collect() }
                        }
                        return roots.enumerated().allSatisfy { i, root in
                            root.withUnsafeMutableBytes { $0.load(as: Int.self) } == t &* 10_000 &+ i
                        }
                    }
                }
                var ok = true
                for await intact in group { ok = ok && intact }
                exit(ok && GC.isInitialized ? 0 : 1)
            }
        }
    }
}
