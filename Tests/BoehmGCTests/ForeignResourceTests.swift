import BoehmGC
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fake foreign handle: a malloc'd block whose close is counted.
private struct Block: @unchecked Sendable {
    // Owned by the resource; freed once, by its close function.
    let pointer: UnsafeMutableRawPointer
}

private let shared: ForeignResourceRegistry = try! ForeignResourceRegistry(vacuum: .eager)

/// Opens `count` resources of `size` malloc'd bytes and drops them, in a
/// frame of its own so no address lingers on the caller's stack.
@inline(never)
private func openAndDrop(
    _ count: Int, size: Int, release: ForeignResource<Block>.Release, closes: Counter
) throws {
    for _ in 0..<count {
        _ = try ForeignResource<Block>(
            byteCount: size, release: release,
            open: { Block(pointer: malloc(size)!) },
            close: { block in
                free(block.pointer)
                closes.increment()
            })
    }
    scrubStack()
}

@Suite struct ForeignResourceTests {
    @Test func closesExactlyOnceAndRefusesUseAfterClose() throws {
        let closes = Counter()
        for release: ForeignResource<Block>.Release in [.finalizer, .registry(shared)] {
            let resource = try ForeignResource<Block>(
                byteCount: 4_096, release: release,
                open: { Block(pointer: malloc(4_096)!) },
                close: { block in
                    free(block.pointer)
                    closes.increment()
                })
            #expect(resource.byteCount == 4_096)
            try resource.withHandle { $0.pointer.storeBytes(of: 7, as: Int.self) }
            #expect(resource.close())
            #expect(!resource.close())  // harmless
            #expect(resource.isClosed)
            #expect(throws: ForeignResourceError.closed) { try resource.withHandle { _ in } }
        }
        collectAndDrain()
        #expect(closes.count == 2)
    }

    // mallinfo2 counts the whole process: in a process of its own, so the
    // other suites' mallocs do not land in the measure.
    @Test func measuresItsSizeWhenNotGiven() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            let resource = try! ForeignResource<Block>(
                release: .finalizer, open: { Block(pointer: malloc(100_000)!) },
                close: { free($0.pointer) })
            let measured = resource.byteCount
            resource.close()
            report.check(
                (100_000...100_000 + 4_096).contains(measured),
                "measured \(measured) bytes for a 100,000-byte malloc")
            report.exit()
        }
        report.show()
    }

    @Test(arguments: ["finalizer", "registry"])
    func droppedResourcesAreClosedAfterCollection(mode: String) throws {
        let release: ForeignResource<Block>.Release = mode == "finalizer" ? .finalizer : .registry(shared)
        let closes = Counter()
        try openAndDrop(1_000, size: 1_024, release: release, closes: closes)
        collectAndDrain()
        shared.vacuum()
        print("\(mode): \(closes.count) of 1,000 dropped resources closed")
        #expect(closes.count >= 990)
    }

    @Test func accountingReturnsToZeroExactly() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            let registry = try! ForeignResourceRegistry(vacuum: .eager)
            let closes = Counter()
            var kept: [ForeignResource<Block>] = []
            for i in 0..<200 {
                kept.append(
                    try! ForeignResource<Block>(
                        byteCount: 1_000, release: i % 2 == 0 ? .finalizer : .registry(registry),
                        open: { Block(pointer: malloc(1_000)!) },
                        close: {
                            free($0.pointer)
                            closes.increment()
                        }))
            }
            let open = ForeignMemory.statistics.liveBytes
            report.check(open == 200_000, "200 resources of 1,000 bytes open: \(open) bytes live")
            for resource in kept { resource.close() }
            for resource in kept { resource.close() }
            let s = ForeignMemory.statistics
            report.check(
                s.liveBytes == 0 && s.liveObjects == 0 && s.refusedRemovals == 0 && closes.count == 200,
                "after closing 200 twice: \(closes.count) closes, \(s)")
            // Dropped unclosed: returned after collection, within a small bound
            // (a stale address on the stack can keep one or two alive).
            try! openAndDrop(1_000, size: 1_000, release: .registry(registry), closes: closes)
            try! openAndDrop(1_000, size: 1_000, release: .finalizer, closes: closes)
            collectAndDrain()
            registry.vacuum()
            let after = ForeignMemory.statistics
            report.check(
                after.liveBytes <= 10 * 1_000 && after.refusedRemovals == 0,
                "after 2,000 dropped and collected: \(after)")
            report.exit()
        }
        report.show()
    }

    /// A resource used inside its own withHandle body (here closed there)
    /// would wait for its own lock for ever: the record's lock knows which
    /// thread holds it, and ends the process with the rule instead (an
    /// alarm ends a child that waits).
    @Test func aResourceUsedInsideItsOwnWithHandleEndsWithTheRule() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            alarm(30)
            let resource = try! ForeignResource<Int>(byteCount: 0, release: .finalizer, open: { 42 }, close: { _ in })
            _ = try! resource.withHandle { _ in resource.close() }
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(
            text.contains("ForeignResource: the resource was used inside its own withHandle body"),
            "the child ended with \(result.map { "\($0.exitStatus)" } ?? "no result"): \(text.suffix(400))")
    }

    /// One account per resource: setByteCount moves what the resource
    /// reports, up and down, and close gives back what it reports then.
    @Test func setByteCountMovesTheResourcesOneAccount() async {
        let report = ChildReport()
        await #expect(processExitsWith: .success, report.comment) { [report = report as ChildReport] in
            try! ForeignMemory.configure(.init(policy: .never))
            let registry = try! ForeignResourceRegistry()
            let resource = try! ForeignResource<Int>(
                byteCount: 1_000, release: .registry(registry), open: { 1 }, close: { _ in })
            try! resource.setByteCount(5_000)
            let grown = (resource.byteCount, ForeignMemory.statistics.liveBytes)
            try! resource.setByteCount(200)
            let shrunk = (resource.byteCount, ForeignMemory.statistics.liveBytes)
            report.check(grown == (5_000, 5_000), "grown to 5,000: resource and live bytes \(grown)")
            report.check(shrunk == (200, 200), "shrunk to 200: resource and live bytes \(shrunk)")
            var refused = false
            do { try resource.setByteCount(-1) } catch {
                refused = error as? ForeignMemory.AccountingError == .negativeCount
            }
            report.check(refused && resource.byteCount == 200, "a negative count is refused and changes nothing")
            resource.close()
            let closed = ForeignMemory.statistics
            report.check(closed.liveBytes == 0 && closed.liveObjects == 0, "closed: \(closed)")
            var afterClose = false
            do { try resource.setByteCount(10) } catch { afterClose = error as? ForeignResourceError == .closed }
            report.check(afterClose && ForeignMemory.statistics.liveBytes == 0, "after close it throws .closed")
            report.exit()
        }
        report.show()
    }

    /// The seed's design (a libgc disappearing link per resource, vacuumed
    /// from a resurrecting finalizer) keeps the registry's guarantees: a
    /// dropped resource is closed once its key is found unreachable, a kept
    /// one is listed, a closed one leaves.
    @Test func theSeedsDesignReleasesDroppedResources() throws {
        let registry = try ForeignResourceRegistry(design: .disappearingLinks)
        let closes = Counter()
        try openAndDrop(1_000, size: 64, release: .registry(registry), closes: closes)
        let kept = try ForeignResource<Int>(byteCount: 0, release: .registry(registry), open: { 7 }, close: { _ in })
        collectAndDrain()
        registry.vacuum()
        print("seed's design: \(closes.count) of 1,000 dropped resources closed")
        #expect(closes.count >= 990)
        let statistics = registry.resourceStatistics
        #expect(statistics.releasedByCollector >= 990 && statistics.opened == 1_001, "\(statistics)")
        var seen: [Int] = []
        #expect(registry.forEachOpen(Int.self) { seen.append($0) } == 1 && seen == [7])
        #expect(registry.tableStatistics.liveEntries >= 1 && registry.tableStatistics.liveEntries <= 11)
        #expect(kept.close())
        #expect(registry.forEachOpen(Int.self) { _ in } == 0)
        #expect(registry.count <= 10, "\(registry.count) resources left registered")
    }

    @Test func registryListsOpenResources() throws {
        let registry = try ForeignResourceRegistry()
        var kept: [ForeignResource<Int>] = []
        for i in 0..<10 {
            kept.append(
                try ForeignResource<Int>(byteCount: 0, release: .registry(registry), open: { i }, close: { _ in }))
        }
        kept[3].close()
        var seen: [Int] = []
        #expect(registry.forEachOpen(Int.self) { seen.append($0) } == 9)
        #expect(seen.sorted() == [0, 1, 2, 4, 5, 6, 7, 8, 9])
        #expect(registry.forEachOpen(String.self) { _ in } == 0)
        for resource in kept { resource.close() }
        #expect(registry.count == 0)
    }
}

/// Measured foreign sizes (`ForeignResource(byteCount: nil)`, a port's
/// converter) under each malloc: glibc's (mallinfo2), jemalloc preloaded as
/// Swift servers run it (where mallinfo2 reads 0), and one the library
/// cannot read (a fixed figure, said once on standard error). Each in a
/// child process (`gc-shapes foreign-sizes`), since the malloc is the
/// process's.
@Suite struct MallocMeasurementTests {
    static let jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

    @Test(arguments: ["glibc", "jemalloc", "unavailable"])
    func measuredSizesHoldUnderEachMalloc(malloc: String) async throws {
        var environment: [String: String] = [:]
        if malloc == "jemalloc" {
            guard access(Self.jemalloc, R_OK) == 0 else {
                Issue.record("\(Self.jemalloc) is missing: apt-get install libjemalloc2 (scripts/setup.sh does)")
                return
            }
            environment["LD_PRELOAD"] = Self.jemalloc
        }
        let arguments = malloc == "unavailable" ? ["foreign-sizes", "unreadable"] : ["foreign-sizes"]
        let outcome = try await ChildProcess.run("gc-shapes", arguments, environment: environment)
        #expect(outcome.succeeded, "\(outcome)")
        #expect(outcome.result["measurement"] as? String == malloc, "\(outcome)")
        let (block, converter, inUse) = (outcome.int("block"), outcome.int("converter"), outcome.int("in_use"))
        if malloc == "unavailable" {
            let fallback = ForeignResources.unmeasuredByteCount
            #expect(
                block == fallback && converter == fallback, "fallback sizes: block \(block), converter \(converter)")
            let warnings = outcome.output.components(separatedBy: "cannot be measured").count - 1
            #expect(warnings == 1, "the fallback said \(warnings) times:\n\(outcome.output)")
        } else {
            // A 100,000-byte block (jemalloc rounds it up to a size class of
            // 112 KiB); an ISO-8859-15 converter of glibc 2.36 (33,040 bytes
            // under glibc's malloc).
            #expect((100_000...120_000).contains(block), "a 100,000-byte block measured as \(block) bytes")
            #expect((30_000...40_000).contains(converter), "a converter measured as \(converter) bytes")
            #expect(inUse > 100_000, "\(inUse) bytes of malloc in use")
        }
    }
}
