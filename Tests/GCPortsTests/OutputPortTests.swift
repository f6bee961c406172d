import BoehmGC
import GCPorts
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Opens `count` string ports, writes a line to each and drops them unclosed,
/// in a frame of its own.
@inline(never)
func openAndDropPorts(_ count: Int, encoding: String = "ISO-8859-15", text: String = "€") throws {
    for i in 0..<count {
        let port = try OutputPort.openString(encoding: encoding)
        try port.write("line \(i) \(text)\n")
    }
    scrubStack()
}

@Suite struct OutputPortTests {
    @Test func encodesInTheChosenEncoding() throws {
        let latin9 = try withOutputToString(encoding: "ISO-8859-15") { try $0.write("10 €\n") }
        #expect(latin9 == [0x31, 0x30, 0x20, 0xA4, 0x0A])
        let utf16 = try withOutputToString(encoding: "UTF-16LE") { try $0.write("é€") }
        #expect(utf16 == [0xE9, 0x00, 0xAC, 0x20])
        let utf8 = try withOutputToString(encoding: "UTF-8") { port in
            for _ in 0..<1_000 { try port.write("ü") }  // several iconv rounds
        }
        #expect(utf8.count == 2_000)
    }

    @Test func statefulEncodingEndsInTheInitialState() throws {
        let jis = try withOutputToString(encoding: "ISO-2022-JP") { try $0.write("a日") }
        // ESC $ B, two bytes of 日, then ESC ( B back to ASCII.
        #expect(jis.prefix(4) == [0x61, 0x1B, 0x24, 0x42])
        #expect(jis.suffix(3) == [0x1B, 0x28, 0x42])
    }

    @Test func unknownEncodingIsAnError() {
        #expect(throws: PortError.unknownEncoding("NO-SUCH-ENCODING")) {
            _ = try OutputPort.openString(encoding: "NO-SUCH-ENCODING")
        }
        let file = TemporaryFile()
        #expect(throws: PortError.unknownEncoding("NO-SUCH-ENCODING")) {
            _ = try OutputPort.openFile(descriptor: file.descriptor, encoding: "NO-SUCH-ENCODING")
        }
    }

    @Test func ignoreSuffixIsRefusedAndTheSkipPolicyDoesItsWork() throws {
        for name in ["ASCII//IGNORE", "ascii//translit,ignore", "ISO-8859-15//IGNORE//TRANSLIT"] {
            #expect(throws: PortError.self, "\(name)") { _ = try OutputPort.openString(encoding: name) }
            #expect(throws: PortError.self, "\(name)") { _ = try InputPort.openBytes([0x61], encoding: name) }
        }
        do {
            _ = try OutputPort.openString(encoding: "ASCII//IGNORE")
        } catch {
            guard case PortError.invalidArgument(let message) = error else {
                Issue.record("ASCII//IGNORE: \(error), expected invalidArgument")
                return
            }
            #expect(message.contains("IGNORE"), "\(message)")
        }
        // //TRANSLIT alone stays usable.
        let translit = try withOutputToString(encoding: "ASCII//TRANSLIT") { try $0.write("a€b") }
        #expect(translit.first == 0x61 && translit.last == 0x62, "\(translit)")
        let skipped = try withOutputToString(encoding: "ASCII", invalidInput: .replace(with: "")) {
            try $0.write("aéb")
        }
        #expect(skipped == Array("ab".utf8))
    }

    @Test func unencodableTextIsAnErrorOrAReplacement() throws {
        let port = try OutputPort.openString(encoding: "ISO-8859-15")
        try port.write("ok ")
        #expect(throws: PortError.invalidInput(byteOffset: 2)) { try port.write("ab日本c") }
        try port.write("€")
        #expect(try port.contents() == Array("ok ".utf8) + [0xA4])  // the failed write added nothing
        try port.close()

        let replaced = try withOutputToString(encoding: "ISO-8859-15", invalidInput: .replace()) {
            try $0.write("ab日本c")
        }
        #expect(replaced == Array("ab??c".utf8))
        #expect(throws: PortError.unencodableReplacement("¤€日")) {
            _ = try OutputPort.openString(encoding: "ISO-8859-15", invalidInput: .replace(with: "¤€日"))
        }
    }

    @Test func invalidUTF8IsAnErrorOrAReplacement() throws {
        let bad: [UInt8] = [0x61, 0xFF, 0x62, 0xE2, 0x82]  // a, invalid byte, b, truncated €
        let replaced = try withOutputToString(encoding: "ISO-8859-15", invalidInput: .replace(with: "?")) { port in
            try bad.withUnsafeBytes { try port.write(utf8Bytes: $0) }
        }
        // One replacement per maximal invalid subsequence: the truncated €
        // (E2 82), held at the end of the write, is replaced at the end.
        #expect(replaced == Array("a?b?".utf8))
        #expect(throws: PortError.invalidInput(byteOffset: 1)) {
            _ = try withOutputToString(encoding: "ISO-8859-15") { port in
                try bad.withUnsafeBytes { try port.write(utf8Bytes: $0) }
            }
        }
    }

    @Test func doubleCloseIsHarmlessAndUseAfterCloseIsAnError() throws {
        let port = try OutputPort.openString(encoding: "UTF-8")
        try port.write("x")
        try port.close()
        try port.close()
        #expect(port.isClosed)
        #expect(throws: PortError.closed) { try port.write("y") }
        #expect(throws: PortError.closed) { try port.contents() }
        #expect(throws: PortError.closed) { try port.flush() }
    }

    @Test func scopedPortsCloseWhenTheBodyThrows() throws {
        struct Stop: Error {}
        let seen = Mutex<OutputPort?>(nil)
        #expect(throws: Stop.self) {
            _ = try withOutputToString(encoding: "UTF-8") { port in
                seen.withLock { $0 = port }
                throw Stop()
            }
        }
        #expect(seen.withLock { $0?.isClosed } == true)
        let file = TemporaryFile()
        #expect(throws: Stop.self) {
            try withOutputToFile(descriptor: file.descriptor, encoding: "ISO-8859-15") { port in
                try port.write("kept €")
                seen.withLock { $0 = port }
                throw Stop()
            }
        }
        #expect(seen.withLock { $0?.isClosed } == true)
        #expect(file.contents == Array("kept ".utf8) + [0xA4])  // flushed at close
    }

    @Test func filePortsBufferAndFlush() throws {
        let file = TemporaryFile()
        let port = try OutputPort.openFile(descriptor: file.descriptor, encoding: "ISO-8859-15", bufferCapacity: 64)
        try port.write("é")
        #expect(file.contents.isEmpty)  // buffered
        for _ in 0..<100 { try port.write("0123456789") }  // passes the buffer several times
        #expect(file.contents.count >= 960)
        try port.flush()
        #expect(file.contents.count == 1_001)
        try port.write("€")
        Ports.flushAll()  // reaches the open port
        #expect(file.contents.count == 1_002)
        #expect(file.contents.last == 0xA4)
        try port.close()
        #expect(fcntl(file.descriptor, F_GETFD) >= 0)  // the port did not own it
    }

    @Test func portsOwningTheirDescriptorCloseIt() throws {
        let path = "/tmp/gcports-own-\(getpid())"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let port = try OutputPort.openFile(descriptor: fd, encoding: "UTF-8", closesDescriptor: true)
        try port.write("bye")
        try port.close()
        #expect(fcntl(fd, F_GETFD) == -1)
        #expect(readFile(path) == Array("bye".utf8))
    }

    @Test func concurrentWritersLoseNothing() async throws {
        let port = try OutputPort.openString(encoding: "UTF-16LE")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { for _ in 0..<2_000 { try! port.write("ab") } }
            }
        }
        #expect(try port.contents().count == 4 * 2_000 * 4)
        try port.close()
    }

    @Test func droppedPortsAreCollectedAndReleased() throws {
        let before = Ports.statistics
        try openAndDropPorts(500)
        for _ in 0..<3 {
            GC.collect()
            GC.runFinalizers()
        }
        Ports.vacuum()
        let after = Ports.statistics
        print("500 dropped: \(after.releasedByCollector - before.releasedByCollector) released by the vacuum")
        // Other suites may release ports at the same time; only a lower bound holds.
        #expect(after.releasedByCollector - before.releasedByCollector >= 490)
    }
}

// Exact process-wide counts: each in a child process.
@Suite struct PortAccountingTests {
    @Test func foreignBytesReturnToZeroWhenEveryPortIsClosed() async {
        let file = TemporaryFile()
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) {
            [path = file.path as String, report = report as ChildReport] in
            try! Ports.configure(.init(converters: .perPort))
            let fd = open(path, O_WRONLY)
            guard fd >= 0 else { report.fail("open \(path): errno \(errno)") }
            var ports: [OutputPort] = []
            for i in 0..<100 {
                let port =
                    i % 2 == 0
                    ? try! OutputPort.openString(encoding: "ISO-8859-15")
                    : try! OutputPort.openFile(descriptor: fd, encoding: "UTF-16")
                try! port.write("line \(i)\n")
                ports.append(port)
            }
            let open = ForeignMemory.statistics
            report.check(
                open.liveObjects == 100 && open.liveBytes >= 100 * 30_000, "100 ports open: \(open)")
            for port in ports { try! port.close() }
            let closed = ForeignMemory.statistics
            report.check(
                closed.liveBytes == 0 && closed.liveObjects == 0 && closed.refusedRemovals == 0,
                "all closed: \(closed)")
            let registered = Ports.statistics.registered
            report.check(registered == 0, "\(registered) ports left in the open-ports table")
            // Dropped unclosed: at most a small bound is left once collected
            // (a stale stack word may keep a port or two alive).
            try! openAndDropPorts(1_000)
            collectAndDrain()
            Ports.vacuum()
            let dropped = ForeignMemory.statistics
            let perPort = open.liveBytes / 100
            report.check(
                dropped.liveBytes <= 4 * perPort && dropped.refusedRemovals == 0,
                "1,000 dropped and collected, \(perPort) bytes a port: \(dropped)")
            let left = Ports.statistics.registered
            report.check(left <= 4, "\(left) of them left in the open-ports table")
            report.exit()
        }
        report.show()
    }

    // 100,000 ports dropped unclosed, each with a converter of its own,
    // default trigger policy (bytes: max(8 MiB, heap/3)).
    @Test func droppedPortsStayBounded() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! Ports.configure(.init(converters: .perPort))
            var maxLive = 0
            var maxRegistered = 0
            var maxCapacity = 0
            for _ in 0..<100 {
                try! openAndDropPorts(1_000)
                let s = ForeignMemory.statistics
                let p = Ports.statistics
                maxLive = max(maxLive, s.liveBytes)
                maxRegistered = max(maxRegistered, p.registered)
                maxCapacity = max(maxCapacity, p.table.capacity)
            }
            let p = Ports.statistics
            let s = ForeignMemory.statistics
            // Budget 8 MiB ≈ 250 ports of ~33 kB between collections, plus the
            // ports opened while the vacuum catches up.
            report.check(maxLive <= 48 << 20, "at most \(maxLive) foreign bytes live")
            report.check(maxRegistered <= 1_500, "at most \(maxRegistered) ports in the open-ports table")
            report.check(maxCapacity <= 4_096, "its capacity at most \(maxCapacity) slots")
            report.check(s.collectionsRequested >= 100, "\(s.collectionsRequested) collections requested")
            report.check(p.opened == 100_000, "\(p.opened) ports opened")
            report.exit()
        }
        report.show()
    }

    // The exit handler flushes file ports still open (alive, or dropped but
    // not yet collected).
    @Test func exitFlushesOpenFilePorts() async {
        let file = TemporaryFile()
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) {
            [path = file.path as String, report = report as ChildReport] in
            let fd = open(path, O_WRONLY | O_TRUNC)
            guard fd >= 0 else { report.fail("open \(path): errno \(errno)") }
            let kept = try! OutputPort.openFile(descriptor: fd, encoding: "ISO-8859-15", bufferCapacity: 1 << 16)
            try! kept.write("kept €\n")
            try! OutputPort.openFile(descriptor: fd, encoding: "ISO-8859-15", bufferCapacity: 1 << 16)
                .write("dropped €\n")
            report.note("two file ports written, one kept and one dropped; exiting")
            withExtendedLifetime(kept) { report.exit() }
        }
        let text = file.contents
        let expected1 = Array("kept ".utf8) + [0xA4, 0x0A]
        let expected2 = Array("dropped ".utf8) + [0xA4, 0x0A]
        #expect(
            text.count == expected1.count + expected2.count
                && (text.starts(with: expected1) || text.starts(with: expected2)),
            "written at exit: \(hex(text))")
    }

    // Pooled converters (the default): a port of a stateless encoding holds
    // none, so a string port that keeps its output in its record reports no
    // foreign bytes at all; a port of a stateful one holds one from its
    // first write to close.
    @Test func pooledConvertersLeaveNoIconvMemoryBehind() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let latin9 = try! OutputPort.openString(encoding: "ISO-8859-15")
            let utf16 = try! OutputPort.openString(encoding: "UTF-16")
            let opened = (latin9.foreignByteCount, utf16.foreignByteCount)
            try! latin9.write("a €")
            try! latin9.write("b €")
            try! utf16.write("a")
            try! utf16.write("b")
            let written = (latin9.foreignByteCount, utf16.foreignByteCount)
            report.check(
                opened == (0, 0) && written.0 == 0 && written.1 > 30_000,
                "foreign bytes of ISO-8859-15 and UTF-16 ports: \(opened) at open, \(written) after writes")
            let latin9Bytes = try! latin9.contents()
            report.check(latin9Bytes == [0x61, 0x20, 0xA4, 0x62, 0x20, 0xA4], "ISO-8859-15: \(hex(latin9Bytes))")
            let utf16Bytes = try! utf16.contents()
            report.check(utf16Bytes == [0xFF, 0xFE, 0x61, 0x00, 0x62, 0x00], "UTF-16, one mark: \(hex(utf16Bytes))")
            try! latin9.close()
            try! utf16.close()
            let closed = ForeignMemory.statistics
            report.check(closed.liveBytes == 0 && closed.liveObjects == 0, "after close: \(closed)")
            var maxLive = 0
            for _ in 0..<20 {
                try! openAndDropPorts(1_000)
                maxLive = max(maxLive, ForeignMemory.statistics.liveBytes)
            }
            // 20,000 dropped ports of ISO-8859-15 that hold nothing outside
            // the GC heap: no foreign bytes live at any time.
            let refused = ForeignMemory.statistics.refusedRemovals
            report.check(maxLive == 0, "20,000 dropped: at most \(maxLive) bytes live")
            report.check(refused == 0, "\(refused) removals refused")
            report.exit()
        }
        report.show()
    }

    // Lazy vacuum: dropped ports wait in the table (their converters open)
    // until a vacuum runs; then they are released like eager ones.
    @Test func lazyVacuumReleasesOnlyWhenAsked() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            try! Ports.configure(.init(vacuum: .lazyOnly))
            try! openAndDropPorts(1_000)
            collectAndDrain()
            let waiting = Ports.statistics
            let waitingObjects = ForeignMemory.statistics.liveObjects
            report.check(
                waiting.releasedByCollector == 0 && waiting.registered == 1_000
                    && waiting.table.deadAwaitingVacuum >= 990 && waitingObjects == 1_000,
                "1,000 dropped and collected, before a vacuum: \(waitingObjects) foreign objects live, \(waiting)")
            Ports.vacuum()
            let after = Ports.statistics
            let afterObjects = ForeignMemory.statistics.liveObjects
            report.check(
                after.releasedByCollector >= 990 && after.registered <= 10 && afterObjects <= 10,
                "after the vacuum: \(afterObjects) foreign objects live, \(after)")
            report.exit()
        }
        report.show()
    }
}

/// What each kind of port reports as its foreign bytes, by converter
/// policy: exact process-wide counts, so in child processes.
@Suite struct PortHoldingsTests {
    @Test func pooledPortsReportTheConverterOnlyWhileTheyHoldIt() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            // Output, stateful: a converter from the first write to close,
            // then back in the pool.
            let utf16 = try! OutputPort.openString(encoding: "UTF-16")
            let base = utf16.foreignByteCount
            try! utf16.write("a")
            let holding = utf16.foreignByteCount
            report.check(
                base == 0 && holding > base + 30_000, "UTF-16 output: \(base) bytes at open, \(holding) after a write")
            let idle = Ports.idleConverterCount("UTF-16")
            try! utf16.close()
            let idleAfter = Ports.idleConverterCount("UTF-16")
            report.check(idleAfter == idle + 1, "UTF-16 encoders idle: \(idle) before close, \(idleAfter) after")
            var live = ForeignMemory.statistics.liveBytes
            report.check(live == 0, "\(live) bytes live after close")

            // Input, stateless: never a converter.
            let latin9 = try! InputPort.openBytes(Array(repeating: 0xE9, count: 1_000), encoding: "ISO-8859-15")
            let opened = latin9.foreignByteCount
            _ = try! latin9.read(count: 10)
            report.check(
                latin9.foreignByteCount == opened, "ISO-8859-15 input: \(opened), then \(latin9.foreignByteCount)")
            latin9.close()
            // Input, stateful (byte-order mark): a converter from the first
            // read; a UTF-16 decoder keeps its byte order, so it is closed,
            // not pooled.
            let utf16In = try! InputPort.openBytes([0xFE, 0xFF, 0x00, 0x61], encoding: "UTF-16")
            let before = utf16In.foreignByteCount
            let text = try! utf16In.readAll()
            let reading = utf16In.foreignByteCount
            report.check(
                text == "a" && reading > before + 30_000,
                "UTF-16 input: \(before) at open, \(reading) after reading \(text.debugDescription)")
            utf16In.close()
            let idleDecoders = Ports.idleConverterCount("UTF-16", decoding: true)
            report.check(idleDecoders == 0, "\(idleDecoders) UTF-16 decoders went back to the pool")
            live = ForeignMemory.statistics.liveBytes
            report.check(live == 0, "\(live) bytes live after close")

            // Dropped stateful ports give their converters back when the
            // collector finds them.
            let idleJIS = Ports.idleConverterCount("ISO-2022-JP")
            try! openAndDropPorts(50, encoding: "ISO-2022-JP", text: "日")
            collectAndDrain()
            Ports.vacuum()
            let given = Ports.idleConverterCount("ISO-2022-JP") - idleJIS
            live = ForeignMemory.statistics.liveBytes
            report.check(given >= 45, "ISO-2022-JP: idle converters grew by \(given) after 50 dropped ports")
            report.check(live <= 5 * 34_000, "\(live) live bytes after 50 dropped ports")
            report.exit()
        }
        report.show()
    }

    // What a port reports is what it keeps once dropped: malloc bytes per
    // port (mallinfo2 around 2,000 opens whose Swift values are dropped and
    // whose GC objects are kept, so nothing is released) within 25% (or 64
    // bytes) of its foreign bytes; and a string port's GC memory (record and
    // GC object) stays small.
    @Test func reportedBytesAreWhatADroppedPortKeeps() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            _ = try! OutputPort.openString(encoding: "ISO-8859-15")
            _ = try! InputPort.openFile(descriptor: 0, encoding: "ISO-8859-15")
            let count = 2_000
            let keys = try! GCRoot(byteCount: 2 * count * 8)
            let slots = keys.unsafeAddress.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            var reported = (0, 0)
            var gcBytes = 0
            let before = ForeignResources.mallocBytesInUse
            for i in 0..<count {
                let port = try! OutputPort.openString(encoding: "ISO-8859-15")
                try! port.write("churn: café € 42\n")
                slots[i] = port.object.unsafeAddress
                reported.0 = port.foreignByteCount
                gcBytes = port.gcByteCount
            }
            let middle = ForeignResources.mallocBytesInUse
            for i in 0..<count {
                let port = try! InputPort.openFile(descriptor: 0, encoding: "ISO-8859-15")
                slots[count + i] = port.object.unsafeAddress
                reported.1 = port.foreignByteCount
            }
            let after = ForeignResources.mallocBytesInUse
            let kept = ((middle - before) / count, (after - middle) / count)
            let close = { (kept: Int, reported: Int) in abs(kept - reported) <= max(kept / 4, 64) }
            report.check(
                close(kept.0, reported.0),
                "dropped output string port: \(kept.0) bytes of malloc kept, \(reported.0) reported")
            report.check(
                close(kept.1, reported.1),
                "dropped input file port: \(kept.1) bytes of malloc kept, \(reported.1) reported")
            report.check(gcBytes <= 192, "an output string port takes \(gcBytes) bytes of GC memory")
            withExtendedLifetime(keys) { report.exit() }
        }
        report.show()
    }

    /// Reading the counters, flushing and vacuuming before the first port
    /// make nothing: the counters are zero and the settings stay open.
    @Test func gettersBeforeTheFirstPortSealNothing() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let before = Ports.statistics
            let flushed = Ports.flushAll()
            Ports.vacuum()
            report.check(before.opened == 0 && before.table.capacity == 0, "counters before any port: \(before)")
            report.check(flushed == 0, "flushAll visited \(flushed) ports before any port")
            do {
                try Ports.configure(.init(converters: .perPort))
            } catch {
                report.fail("configure after reading the counters: \(error)")
            }
            let port = try! OutputPort.openString(encoding: "ISO-8859-15")
            report.check(port.foreignByteCount > 30_000, "the setting applies: \(port.foreignByteCount) foreign bytes")
            report.check(Ports.statistics.opened == 1, "opened \(Ports.statistics.opened) after one port")
            report.exit()
        }
        report.show()
    }

    @Test func aPortPerConverterReportsItFromOpen() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! Ports.configure(.init(converters: .perPort))
            let output = try! OutputPort.openString(encoding: "ISO-8859-15")
            let input = try! InputPort.openBytes([0x61], encoding: "ISO-8859-15")
            let counts = (output.foreignByteCount, input.foreignByteCount)
            try! output.close()
            input.close()
            let live = ForeignMemory.statistics.liveBytes
            report.check(
                counts.0 > 30_000 && counts.1 > 30_000,
                "one converter per port: output \(counts.0), input \(counts.1) foreign bytes at open")
            report.check(live == 0, "\(live) bytes live after close")
            report.exit()
        }
        report.show()
    }
}
