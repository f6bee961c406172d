import BoehmGC
import GCPorts
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary file, removed on deinit.
final class TemporaryFile {
    let path: String
    let descriptor: Int32

    init(_ name: String = "gcports-\(getpid())-\(UInt32.random(in: 0...UInt32.max))") {
        path = "/tmp/\(name)"
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "cannot create \(path)")
    }

    var contents: [UInt8] { readFile(path) }

    deinit {
        close(descriptor)
        unlink(path)
    }
}

func readFile(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        if n <= 0 { break }
        result.append(contentsOf: chunk[..<n])
    }
    return result
}

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

/// What an exit test's child saw, passed to its parent in a file (the
/// expectation gives the parent no output when the exit status is wrong).
enum ChildReport {
    static func path(_ name: String, parent: pid_t) -> String { "/tmp/gcports-child-\(parent)-\(name).txt" }

    /// In the child: records `lines` for the parent.
    static func write(_ name: String, _ lines: [String]) {
        guard !lines.isEmpty else { return }
        let text = lines.joined(separator: "\n") + "\n"
        let fd = open(path(name, parent: getppid()), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }

    /// In the parent: prints what the child recorded, and removes it.
    static func print(_ name: String) {
        let file = path(name, parent: getpid())
        let text = String(decoding: readFile(file), as: UTF8.self)
        if !text.isEmpty { Swift.print("child of \(name):\n\(text)", terminator: "") }
        unlink(file)
    }
}

@inline(never)
func scrubStack() {
    withUnsafeTemporaryAllocation(of: UInt.self, capacity: 4096) { buffer in
        buffer.initialize(repeating: 0)
        _ = buffer[4095]
    }
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
        await #expect(processExitsWith: .success) {
            try! Ports.configure(.init(converters: .perPort))
            var ports: [OutputPort] = []
            let file = TemporaryFile()
            for i in 0..<100 {
                let port =
                    i % 2 == 0
                    ? try! OutputPort.openString(encoding: "ISO-8859-15")
                    : try! OutputPort.openFile(descriptor: file.descriptor, encoding: "UTF-16")
                try! port.write("line \(i)\n")
                ports.append(port)
            }
            let open = ForeignMemory.statistics
            guard open.liveObjects == 100, open.liveBytes >= 100 * 30_000 else { exit(1) }
            for port in ports { try! port.close() }
            let closed = ForeignMemory.statistics
            guard closed.liveBytes == 0, closed.liveObjects == 0, closed.refusedRemovals == 0 else { exit(2) }
            guard Ports.statistics.registered == 0 else { exit(3) }
            // Dropped unclosed: at most a small bound is left once collected
            // (a stale stack word may keep a port or two alive).
            try! openAndDropPorts(1_000)
            for _ in 0..<3 {
                GC.collect()
                GC.runFinalizers()
            }
            Ports.vacuum()
            let dropped = ForeignMemory.statistics
            let perPort = open.liveBytes / 100
            guard dropped.liveBytes <= 4 * perPort, dropped.refusedRemovals == 0,
                Ports.statistics.registered <= 4
            else { exit(4) }
            exit(0)
        }
    }

    // 100,000 ports dropped unclosed, each with a converter of its own,
    // default trigger policy (bytes: max(8 MiB, heap/3)).
    @Test func droppedPortsStayBounded() async {
        await #expect(processExitsWith: .success) {
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
            guard maxLive <= 48 << 20, maxRegistered <= 1_500, maxCapacity <= 4_096,
                s.collectionsRequested >= 100, p.opened == 100_000
            else {
                print(
                    "max live \(maxLive) registered \(maxRegistered) capacity \(maxCapacity) requested \(s.collectionsRequested)"
                )
                exit(1)
            }
            exit(0)
        }
    }

    // The exit handler flushes file ports still open (alive, or dropped but
    // not yet collected).
    @Test func exitFlushesOpenFilePorts() async {
        let path = "/tmp/gcports-exit-\(getpid())"
        defer { unlink(path) }
        await #expect(processExitsWith: .success) {
            let path = "/tmp/gcports-exit-\(getppid())"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let kept = try! OutputPort.openFile(descriptor: fd, encoding: "ISO-8859-15", bufferCapacity: 1 << 16)
            try! kept.write("kept €\n")
            try! OutputPort.openFile(descriptor: fd, encoding: "ISO-8859-15", bufferCapacity: 1 << 16)
                .write("dropped €\n")
            withExtendedLifetime(kept) { exit(0) }
        }
        let text = readFile(path)
        let expected1 = Array("kept ".utf8) + [0xA4, 0x0A]
        let expected2 = Array("dropped ".utf8) + [0xA4, 0x0A]
        #expect(text.count == expected1.count + expected2.count)
        #expect(text.starts(with: expected1) || text.starts(with: expected2))
    }

    // Pooled converters (the default): a port of a stateless encoding holds
    // none, so a dropped one leaves only its buffer; a port of a stateful
    // one holds one from its first write to close.
    @Test func pooledConvertersLeaveNoIconvMemoryBehind() async {
        await #expect(processExitsWith: .success) {
            let latin9 = try! OutputPort.openString(encoding: "ISO-8859-15")
            let utf16 = try! OutputPort.openString(encoding: "UTF-16")
            let opened = (latin9.foreignByteCount, utf16.foreignByteCount)
            try! latin9.write("a €")
            try! latin9.write("b €")
            try! utf16.write("a")
            try! utf16.write("b")
            let written = (latin9.foreignByteCount, utf16.foreignByteCount)
            ChildReport.write("no-iconv-memory", ["foreign bytes opened \(opened), written \(written)"])
            guard opened == (936, 936), written.0 == 936, written.1 > 30_000 else { exit(1) }
            guard try! latin9.contents() == [0x61, 0x20, 0xA4, 0x62, 0x20, 0xA4] else { exit(2) }
            guard try! utf16.contents() == [0xFF, 0xFE, 0x61, 0x00, 0x62, 0x00] else { exit(3) }  // one BOM
            try! latin9.close()
            try! utf16.close()
            let closed = ForeignMemory.statistics
            ChildReport.write(
                "no-iconv-memory",
                ["foreign bytes opened \(opened), written \(written); after close \(closed.liveBytes) bytes live"])
            guard closed.liveBytes == 0, closed.liveObjects == 0 else { exit(4) }
            var maxLive = 0
            for _ in 0..<20 {
                try! openAndDropPorts(1_000)
                maxLive = max(maxLive, ForeignMemory.statistics.liveBytes)
            }
            ChildReport.write("no-iconv-memory", ["20,000 dropped: at most \(maxLive) bytes live"])
            // 20,000 dropped ports of 936 bytes: the 8 MiB budget, plus at
            // most one more budget added while the eager vacuum (on the
            // finalizer thread) catches up after a collection under load.
            guard maxLive <= 17 << 20, ForeignMemory.statistics.refusedRemovals == 0 else { exit(5) }
            exit(0)
        }
        ChildReport.print("no-iconv-memory")
    }

    // Lazy vacuum: dropped ports wait in the table (their converters open)
    // until a vacuum runs; then they are released like eager ones.
    @Test func lazyVacuumReleasesOnlyWhenAsked() async {
        await #expect(processExitsWith: .success) {
            try! ForeignMemory.configure(.init(policy: .never))
            try! Ports.configure(.init(vacuum: .lazyOnly))
            try! openAndDropPorts(1_000)
            for _ in 0..<3 {
                GC.collect()
                GC.runFinalizers()
            }
            let waiting = Ports.statistics
            guard waiting.releasedByCollector == 0, waiting.registered == 1_000,
                waiting.table.deadAwaitingVacuum >= 990, ForeignMemory.statistics.liveObjects == 1_000
            else { exit(1) }
            Ports.vacuum()
            let after = Ports.statistics
            guard after.releasedByCollector >= 990, after.registered <= 10,
                ForeignMemory.statistics.liveObjects <= 10
            else { exit(2) }
            exit(0)
        }
    }
}

/// What each kind of port reports as its foreign bytes, by converter
/// policy: exact process-wide counts, so in child processes.
@Suite struct PortHoldingsTests {
    @Test func pooledPortsReportTheConverterOnlyWhileTheyHoldIt() async {
        await #expect(processExitsWith: .success) {
            var seen: [String] = []
            var failed = false
            func check(_ ok: Bool, _ message: String) {
                seen.append((ok ? "ok: " : "FAILED: ") + message)
                failed = failed || !ok
            }
            // Output, stateful: a converter from the first write to close,
            // then back in the pool.
            let utf16 = try! OutputPort.openString(encoding: "UTF-16")
            let base = utf16.foreignByteCount
            try! utf16.write("a")
            let holding = utf16.foreignByteCount
            check(
                base == 936 && holding > base + 30_000, "UTF-16 output: \(base) bytes at open, \(holding) after a write"
            )
            let idle = Ports.idleConverterCount("UTF-16")
            try! utf16.close()
            let idleAfter = Ports.idleConverterCount("UTF-16")
            check(idleAfter == idle + 1, "UTF-16 encoders idle: \(idle) before close, \(idleAfter) after")
            check(ForeignMemory.statistics.liveBytes == 0, "live \(ForeignMemory.statistics.liveBytes) after close")

            // Input, stateless: never a converter.
            let latin9 = try! InputPort.openBytes(Array(repeating: 0xE9, count: 1_000), encoding: "ISO-8859-15")
            let opened = latin9.foreignByteCount
            _ = try! latin9.read(count: 10)
            check(latin9.foreignByteCount == opened, "ISO-8859-15 input: \(opened), then \(latin9.foreignByteCount)")
            latin9.close()
            // Input, stateful (byte-order mark): a converter from the first
            // read; a UTF-16 decoder keeps its byte order, so it is closed,
            // not pooled.
            let utf16In = try! InputPort.openBytes([0xFE, 0xFF, 0x00, 0x61], encoding: "UTF-16")
            let before = utf16In.foreignByteCount
            let text = try! utf16In.readAll()
            let reading = utf16In.foreignByteCount
            check(text == "a" && reading > before + 30_000, "UTF-16 input: \(before) at open, \(reading) after a read")
            utf16In.close()
            let idleDecoders = Ports.idleConverterCount("UTF-16", decoding: true)
            check(idleDecoders == 0, "\(idleDecoders) UTF-16 decoders went back to the pool")
            check(ForeignMemory.statistics.liveBytes == 0, "live \(ForeignMemory.statistics.liveBytes) after close")

            // Dropped stateful ports give their converters back when the
            // collector finds them.
            let idleJIS = Ports.idleConverterCount("ISO-2022-JP")
            try! openAndDropPorts(50, encoding: "ISO-2022-JP", text: "日")
            for _ in 0..<3 {
                GC.collect()
                GC.runFinalizers()
            }
            Ports.vacuum()
            let given = Ports.idleConverterCount("ISO-2022-JP") - idleJIS
            let live = ForeignMemory.statistics.liveBytes
            check(given >= 45, "ISO-2022-JP: idle converters grew by \(given) after 50 dropped ports")
            check(live <= 5 * 34_000, "\(live) live bytes after 50 dropped ports")
            ChildReport.write("pooled", seen)
            exit(failed ? 1 : 0)
        }
        ChildReport.print("pooled")
    }

    // What a port reports is what it takes: malloc bytes per open port
    // (mallinfo2 around 2,000 opens) within 25% of its foreign bytes.
    @Test func reportedBytesAreWhatAPortTakes() async {
        await #expect(processExitsWith: .success) {
            _ = try! OutputPort.openString(encoding: "ISO-8859-15")
            _ = try! InputPort.openFile(descriptor: 0, encoding: "ISO-8859-15")
            var outputs: [OutputPort] = []
            var inputs: [InputPort] = []
            outputs.reserveCapacity(2_000)
            inputs.reserveCapacity(2_000)
            let before = ForeignResources.mallocBytesInUse
            for _ in 0..<2_000 { outputs.append(try! OutputPort.openString(encoding: "ISO-8859-15")) }
            let middle = ForeignResources.mallocBytesInUse
            for _ in 0..<2_000 { inputs.append(try! InputPort.openFile(descriptor: 0, encoding: "ISO-8859-15")) }
            let after = ForeignResources.mallocBytesInUse
            let taken = ((middle - before) / 2_000, (after - middle) / 2_000)
            let reported = (outputs[0].foreignByteCount, inputs[0].foreignByteCount)
            ChildReport.write(
                "honest",
                [
                    "output string port: \(taken.0) bytes of malloc, \(reported.0) reported",
                    "input file port: \(taken.1) bytes of malloc, \(reported.1) reported",
                ])
            let close = { (taken: Int, reported: Int) in abs(taken - reported) * 4 <= taken }
            exit(close(taken.0, reported.0) && close(taken.1, reported.1) ? 0 : 1)
        }
        ChildReport.print("honest")
    }

    @Test func aPortPerConverterReportsItFromOpen() async {
        await #expect(processExitsWith: .success) {
            try! Ports.configure(.init(converters: .perPort))
            let output = try! OutputPort.openString(encoding: "ISO-8859-15")
            let input = try! InputPort.openBytes([0x61], encoding: "ISO-8859-15")
            let counts = (output.foreignByteCount, input.foreignByteCount)
            try! output.close()
            input.close()
            let live = ForeignMemory.statistics.liveBytes
            let seen = "one converter per port: output \(counts.0), input \(counts.1) bytes, \(live) after close"
            ChildReport.write("per-port", [seen])
            exit(counts.0 > 30_000 && counts.1 > 30_000 && live == 0 ? 0 : 1)
        }
        ChildReport.print("per-port")
    }
}
