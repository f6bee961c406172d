import BoehmGC
import GCPorts
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// libgc's generational mode (`GC.Configuration.collections`), in child
/// processes: the mode is process-wide and chosen before the collector
/// starts. Each child reports what it saw (``ChildReport``).
@Suite struct GenerationalTests {
    /// Partial collections are counted where they happen: the epoch, the
    /// pauses, and a post-GC hook's runs follow every collection.
    @Test func partialCollectionsAreCountedAndHooksRunForEach() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(finalizerMode: .explicitOnly, collections: .generational(fullEvery: 1_000)))
            let hook = try! PostGCHook { _ in }
            let start = GC.statistics
            for _ in 0..<20 { GC.collectPartially() }
            GC.runFinalizers()
            let end = GC.statistics
            let counted = end.collections - start.collections
            let partial = counted - (end.fullCollections - start.fullCollections)
            report.note("last pause \(end.lastPause)")
            report.check(counted == 20, "\(counted) collections counted for 20 partial ones asked")
            report.check(partial >= 19, "\(partial) of them partial")
            report.check(hook.runCount == 20, "\(hook.runCount) runs of the hook")
            report.exit()
        }
        report.show()
    }

    /// A young object dropped before a partial collection takes its weak
    /// entries with it; an object that survived a collection before it was
    /// dropped stays marked until the next full collection, and so do its
    /// entries. A partial collection tests only the slots written since the
    /// last one (a few hundred of 200 k here).
    @Test func weakEntriesOfOldObjectsWaitForAFullCollection() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
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
            report.note("weak sweeps: \(partialSweep) partial, \(fullSweep) full")
            // Old entries stay (with a few young ones a stale word keeps: at
            // most 64 of 500); at the full collection they go.
            report.check(
                afterPartial >= 200_000 && afterPartial <= 200_064,
                "200,000 old and 500 young keys dropped: \(afterPartial) live after a partial collection")
            report.check(afterFull <= 64, "\(afterFull) live after a full one")
            report.exit()
        }
        report.show()
    }

    /// The foreign-memory trigger starts partial collections.
    @Test func theAccountingTriggerStartsPartialCollections() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(collections: .generational(fullEvery: 1_000)))
            try! ForeignMemory.configure(.init(policy: .bytes(floor: 1 << 20, heapFraction: 0)))
            let start = GC.statistics
            for _ in 0..<160 { try! ForeignMemory.add(byteCount: 64 << 10) }  // 10 MiB
            let end = GC.statistics
            let collections = end.collections - start.collections
            let full = end.fullCollections - start.fullCollections
            report.check(
                collections >= 9 && full <= 1,
                "10 MiB reported, 1 MiB budget: \(collections) collections, \(full) full")
            report.exit()
        }
        report.show()
    }

    /// libgc write-protects the pointer heap to learn what changed: read(2)
    /// into a scanned GC object fails with EFAULT (the hazard the
    /// configuration documents), while the ports, which read and write only
    /// malloc'd memory, work.
    @Test func portsWorkWhereReadIntoTheGCHeapFails() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! GC.configure(.init(collections: .generational()))
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { report.fail("pipe: errno \(errno)") }
            let buffer = try! GCRoot(byteCount: 4096)
            var kept = try! (0..<64).map { _ in try GCRoot(byteCount: 4096) }
            GC.collect()
            GC.collect()
            _ = write(fds[1], "hello", 5)
            let direct = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, 5) }
            let directErrno = direct < 0 ? errno : 0
            report.check(
                direct < 0 && directErrno == EFAULT,
                "read(2) into a scanned GC object: \(direct) (errno \(directErrno), EFAULT is \(EFAULT))")
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
                guard line == "line \(lines) €" else { report.fail("line \(lines) read as \(line.debugDescription)") }
                lines += 1
            }
            kept.removeAll()
            report.check(lines == 100, "through the ports: \(lines) of 100 lines")
            report.exit()
        }
        report.show()
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
