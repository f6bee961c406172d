import BoehmGC
import GCPorts
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// libgc's generational mode (`GC.Configuration.collections`), in child
/// processes: the mode is process-wide and chosen before the collector
/// starts. Each child prints what it saw; the parent shows it.
@Suite struct GenerationalTests {
    /// Partial collections are counted where they happen: the epoch, the
    /// pauses, and a post-GC hook's runs follow every collection.
    @Test func partialCollectionsAreCountedAndHooksRunForEach() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            try! GC.configure(.init(finalizerMode: .explicitOnly, collections: .generational(fullEvery: 1_000)))
            let hook = try! PostGCHook { _ in }
            let start = GC.statistics
            for _ in 0..<20 { GC.collectPartially() }
            GC.runFinalizers()
            let end = GC.statistics
            let partial = (end.collections - start.collections) - (end.fullCollections - start.fullCollections)
            print(
                "20 partial collections asked: \(end.collections - start.collections) counted, "
                    + "\(partial) partial, hook ran \(hook.runCount), last pause \(end.lastPause)")
            exit(end.collections - start.collections == 20 && partial >= 19 && hook.runCount == 20 ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
    }

    /// A young object dropped before a partial collection takes its weak
    /// entries with it; an object that survived a collection before it was
    /// dropped stays marked until the next full collection, and so do its
    /// entries. A partial collection tests only the slots written since the
    /// last one (a few hundred of 200 k here).
    @Test func weakEntriesOfOldObjectsWaitForAFullCollection() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            try! GC.configure(.init(finalizerMode: .explicitOnly, collections: .generational(fullEvery: 1_000)))
            let table = try! GCWeakTable(weakness: .keys)
            let value = try! GCRoot(byteCount: 16)
            var old = try! (0..<200_000).map { _ in try GCRoot(byteCount: 16) }
            for key in old { try! table.setValue(value, forKey: key) }
            GC.collectPartially()
            GC.collectPartially()
            GC.runFinalizers()
            old.removeAll()
            try! insertYoungKeys(into: table, value: value, count: 500)
            GC.collectPartially()
            GC.runFinalizers()
            let afterPartial = table.count
            let partialSweep = GC.statistics.lastWeakSweep
            GC.collect()
            GC.runFinalizers()
            let afterFull = table.count
            let fullSweep = GC.statistics.lastWeakSweep
            print(
                "200,000 old and 500 young keys dropped: \(afterPartial) live after a partial collection "
                    + "(sweep \(partialSweep)), \(afterFull) after a full one (sweep \(fullSweep))")
            // Old entries stay (with a few young ones a stale word keeps: at
            // most 64 of 500); at the full collection they go.
            exit(afterPartial >= 200_000 && afterPartial <= 200_064 && afterFull <= 64 ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
    }

    /// The foreign-memory trigger starts partial collections.
    @Test func theAccountingTriggerStartsPartialCollections() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            try! GC.configure(.init(collections: .generational(fullEvery: 1_000)))
            try! ForeignMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            let start = GC.statistics
            for _ in 0..<160 { try! ForeignMemory.add(byteCount: 64 << 10) }  // 10 MiB
            let end = GC.statistics
            let collections = end.collections - start.collections
            let full = end.fullCollections - start.fullCollections
            print("10 MiB reported, 1 MiB budget: \(collections) collections, \(full) full")
            exit(collections >= 9 && full <= 1 ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
    }

    /// libgc write-protects the pointer heap to learn what changed: read(2)
    /// into a scanned GC object fails with EFAULT (the hazard the
    /// configuration documents), while the ports, which read and write only
    /// malloc'd memory, work.
    @Test func portsWorkWhereReadIntoTheGCHeapFails() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            try! GC.configure(.init(collections: .generational()))
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { exit(2) }
            let buffer = try! GCRoot(byteCount: 4096)
            var kept = try! (0..<64).map { _ in try GCRoot(byteCount: 4096) }
            GC.collect()
            GC.collect()
            _ = write(fds[1], "hello", 5)
            let direct = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, 5) }
            let directErrno = direct < 0 ? errno : 0
            // The failed read left the bytes in the pipe.
            var drained = [UInt8](repeating: 0, count: 5)
            _ = read(fds[0], &drained, 5)
            // Through the ports: an output port on the pipe, an input port on
            // the other end.
            let output = try! OutputPort.openFile(descriptor: fds[1], encoding: "ISO-8859-15")
            let input = try! InputPort.openFile(descriptor: fds[0], encoding: "ISO-8859-15")
            for n in 0..<100 {
                try! output.write("line \(n) €\n")
                if n % 10 == 0 { GC.collectPartially() }
            }
            try! output.close()
            close(fds[1])
            var lines = 0
            while let line = try! input.readLine() {
                guard line == "line \(lines) €" else { exit(3) }
                lines += 1
            }
            kept.removeAll()
            print(
                "read(2) into a scanned GC object: \(direct) (errno \(directErrno)); through the ports: \(lines) lines")
            exit(direct < 0 && directErrno == EFAULT && lines == 100 ? 0 : 1)
        }
        print(String(decoding: result?.standardOutputContent ?? [], as: UTF8.self), terminator: "")
    }
}

/// Inserts `count` keys that nothing keeps, in a frame of its own.
@inline(never)
func insertYoungKeys(into table: GCWeakTable, value: GCRoot, count: Int) throws {
    for _ in 0..<count {
        let key = try GC.unsafeAllocate(byteCount: 16)
        try table.unsafeSetValue(value.unsafeAddress, forKey: key)
    }
}
