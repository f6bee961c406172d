import BoehmGC
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A port's foreign state: the iconv converter, the output buffer and, for a
/// file port, the descriptor. It is the handle of the port's
/// ``ForeignResource``, whose lock serialises every use; the registry entry
/// of the open-ports table keeps it reachable, so the table's vacuum can
/// flush and close it after the port itself was collected.
internal final class PortCore: @unchecked Sendable {
    // Mutable fields (buffer, counters) are touched only under the lock of
    // the ForeignResource that owns this core (withHandle), or by its close
    // function, which runs once, after the handle was taken out of that lock.
    /// The port's own converter, or the shared pool it borrows one from for
    /// each write (stateless encodings with `Ports.Configuration.sharesConverters`).
    let source: ConverterSource
    let descriptor: Int32
    let closesDescriptor: Bool
    let bufferCapacity: Int
    let invalidInput: InvalidInputPolicy
    /// The replacement, already encoded.
    let replacement: [UInt8]
    /// File port: bytes not yet written. String port: the whole output.
    var buffer: [UInt8]
    var flushFailures = 0

    var isFilePort: Bool { descriptor >= 0 }

    init(
        source: ConverterSource, descriptor: Int32, closesDescriptor: Bool, bufferCapacity: Int,
        invalidInput: InvalidInputPolicy
    ) throws(PortError) {
        self.source = source
        self.descriptor = descriptor
        self.closesDescriptor = closesDescriptor
        self.bufferCapacity = bufferCapacity
        self.invalidInput = invalidInput
        buffer = []
        buffer.reserveCapacity(bufferCapacity)
        var encoded: [UInt8] = []
        if case .replace(let text) = invalidInput {
            var utf8 = Array(text.utf8)
            let status = try source.withConverter { converter in
                let status = utf8.withUnsafeMutableBytes { input in
                    Iconv.convert(converter, input, into: &encoded)
                }
                // The replacement leaves the converter in its initial state.
                Iconv.appendReset(converter, into: &encoded)
                return status
            }
            guard status == .done else {
                throw .unencodableReplacement(text)
            }
        }
        replacement = encoded
    }

    /// Encodes `utf8` onto the buffer; flushes a file port whose buffer is full.
    func write(_ utf8: UnsafeRawBufferPointer) throws(PortError) {
        try source.withConverter { converter throws(PortError) in try write(utf8, with: converter) }
        if isFilePort && buffer.count >= bufferCapacity { try flush() }
    }

    private func write(_ utf8: UnsafeRawBufferPointer, with converter: iconv_t) throws(PortError) {
        let start = buffer.count
        var consumed = 0
        var remaining = UnsafeMutableRawBufferPointer(mutating: utf8)
        while !remaining.isEmpty {
            let status = Iconv.convert(converter, remaining, into: &buffer)
            switch status {
            case .done:
                remaining = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            case .invalid(let at):
                consumed += at
                switch invalidInput {
                case .error:
                    buffer.removeSubrange(start...)
                    Iconv.reset(converter)
                    throw .invalidInput(byteOffset: consumed)
                case .replace:
                    buffer.append(contentsOf: replacement)
                    let rest = UnsafeMutableRawBufferPointer(rebasing: remaining[at...])
                    let skip = utf8SequenceLength(rest)
                    consumed += skip
                    remaining = UnsafeMutableRawBufferPointer(rebasing: rest[skip...])
                }
            case .failed(let code):
                buffer.removeSubrange(start...)
                Iconv.reset(converter)
                throw .system(operation: "iconv", errno: code)
            }
        }
    }

    /// Writes the buffer of a file port to its descriptor. On an error the
    /// bytes not written stay buffered.
    func flush() throws(PortError) {
        guard isFilePort, !buffer.isEmpty else { return }
        var offset = 0
        defer { if offset > 0 { buffer.removeSubrange(..<offset) } }
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { bytes in
                Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .system(operation: "write", errno: code)
            }
            offset += written
        }
    }

    /// Returns the encoder to its initial state, writing the bytes that
    /// takes (stateful encodings only).
    func finishShiftState() {
        // A shared converter is stateless and back in its initial state
        // after every write.
        if case .owned(let converter) = source { Iconv.appendReset(converter, into: &buffer) }
    }

    /// The close function of the port's resource: flush what is buffered,
    /// then free the converter (and the descriptor if the port owns it).
    /// Runs exactly once, from close or from the open-ports table's vacuum.
    static func release(_ core: PortCore) {
        core.finishShiftState()
        do {
            try core.flush()
        } catch {
            core.flushFailures += 1
            PortCounters.flushFailures.add(1, ordering: .relaxed)
        }
        if case .owned(let converter) = core.source { Iconv.close(converter) }
        if core.closesDescriptor { _ = Glibc.close(core.descriptor) }
        PortCounters.released.add(1, ordering: .relaxed)
    }
}

/// Length of the UTF-8 sequence at the start of `bytes` if it is a valid,
/// complete one, else 1 (one replacement per invalid byte).
private func utf8SequenceLength(_ bytes: UnsafeMutableRawBufferPointer) -> Int {
    guard let lead = bytes.first else { return 0 }
    let length: Int
    switch lead {
    case 0xC2...0xDF: length = 2
    case 0xE0...0xEF: length = 3
    case 0xF0...0xF4: length = 4
    default: return 1
    }
    guard bytes.count >= length else { return 1 }
    for i in 1..<length where bytes[i] & 0xC0 != 0x80 { return 1 }
    return length
}

/// Thin wrappers over iconv(3).
internal enum Iconv {
    enum Status: Equatable {
        case done
        /// Invalid or unencodable input at this offset of the input given.
        case invalid(at: Int)
        case failed(Int32)
    }

    /// Opens a converter from UTF-8 to `encoding`, inside the library's gate
    /// (glibc takes its process-wide iconv lock, which must not be held at
    /// a fork).
    static func open(_ encoding: String) throws(PortError) -> iconv_t {
        let (converter, code) = withinLibraryGate { (iconv_open(encoding, "UTF-8"), errno) }
        if Int(bitPattern: converter) == -1 {
            if code == EINVAL { throw .unknownEncoding(encoding) }
            throw .system(operation: "iconv_open", errno: code)
        }
        return converter!
    }

    /// Closes a converter. Inside the library's gate, like ``open(_:)``: glibc
    /// takes its process-wide iconv lock, which must not be held at a fork.
    static func close(_ converter: iconv_t) {
        withinLibraryGate { _ = iconv_close(converter) }
    }

    /// Converts all of `input` onto `output`, or up to the first invalid
    /// input.
    static func convert(
        _ converter: iconv_t, _ input: UnsafeMutableRawBufferPointer, into output: inout [UInt8]
    ) -> Status {
        guard let base = input.baseAddress, input.count > 0 else { return .done }
        var inPointer: UnsafeMutablePointer<CChar>? = base.assumingMemoryBound(to: CChar.self)
        var inLeft = input.count
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { scratch in
            while true {
                var outPointer: UnsafeMutablePointer<CChar>? = scratch.baseAddress
                var outLeft = scratch.count
                let result = iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft)
                let code = result == -1 ? errno : 0
                let produced = scratch.count - outLeft
                if produced > 0 {
                    output.append(
                        contentsOf: UnsafeRawBufferPointer(start: scratch.baseAddress, count: produced))
                }
                if result != -1 { return .done }
                switch code {
                case E2BIG: continue
                case EILSEQ, EINVAL: return .invalid(at: input.count - inLeft)
                default: return .failed(code)
                }
            }
        }
    }

    /// Appends the bytes that return the converter to its initial state.
    static func appendReset(_ converter: iconv_t, into output: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { scratch in
            var outPointer: UnsafeMutablePointer<CChar>? = scratch.baseAddress
            var outLeft = scratch.count
            _ = iconv(converter, nil, nil, &outPointer, &outLeft)
            let produced = scratch.count - outLeft
            if produced > 0 {
                output.append(contentsOf: UnsafeRawBufferPointer(start: scratch.baseAddress, count: produced))
            }
        }
    }

    /// Returns the converter to its initial state, discarding output.
    static func reset(_ converter: iconv_t) {
        _ = iconv(converter, nil, nil, nil, nil)
    }

    /// Whether converters to `encoding` keep no state between writes: the
    /// output of "a" does not change on a second conversion (no byte-order
    /// mark) and no shift sequence is needed to return to the initial state
    /// after a few non-ASCII characters (ISO-2022 and the like need one).
    static func isStateless(_ encoding: String) throws(PortError) -> Bool {
        let converter = try open(encoding)
        defer { close(converter) }
        var first: [UInt8] = []
        var second: [UInt8] = []
        var a: [UInt8] = [0x61]
        _ = a.withUnsafeMutableBytes { convert(converter, $0, into: &first) }
        _ = a.withUnsafeMutableBytes { convert(converter, $0, into: &second) }
        if first != second { return false }
        for sample in ["é", "€", "日", "ア", "Ω"] {
            var bytes = Array(sample.utf8)
            var output: [UInt8] = []
            _ = bytes.withUnsafeMutableBytes { convert(converter, $0, into: &output) }
            var shift: [UInt8] = []
            appendReset(converter, into: &shift)
            if !shift.isEmpty { return false }
            reset(converter)
        }
        return true
    }
}

/// Where a port's converter comes from.
internal enum ConverterSource: @unchecked Sendable {
    // An owned converter is used only under its port's lock; a pool is Sendable.
    case owned(iconv_t)
    case shared(ConverterPool)

    /// Runs `body` with a converter in its initial state; a shared one is
    /// reset and returned to the pool afterwards.
    func withConverter<R>(_ body: (iconv_t) throws(PortError) -> R) throws(PortError) -> R {
        switch self {
        case .owned(let converter):
            return try body(converter)
        case .shared(let pool):
            let converter = try pool.take()
            defer {
                Iconv.reset(converter)
                pool.put(converter)
            }
            return try body(converter)
        }
    }
}

/// What the ports know of one encoding: the malloc bytes of one converter,
/// whether converters are stateless, and the idle converters ports share
/// when `Ports.Configuration.sharesConverters` is on.
internal final class ConverterPool: Sendable {
    let encoding: String
    /// Malloc bytes one converter holds, measured once around a second
    /// `iconv_open` (the first also loads and caches glibc's conversion
    /// module: 33,040 against 37,952 bytes for ISO-8859-15 on glibc 2.36).
    let converterBytes: Int
    let isStateless: Bool
    /// Idle converters, as bit patterns (an iconv_t is a plain pointer).
    private let idle = Lock<[UInt]>([])

    /// Idle converters kept per encoding; more are closed when returned.
    static let maximumIdle = 64

    private init(encoding: String) throws(PortError) {
        self.encoding = encoding
        let warmUp = try Iconv.open(encoding)
        let before = ForeignResources.mallocBytesInUse
        let probe = try Iconv.open(encoding)
        converterBytes = max(0, ForeignResources.mallocBytesInUse - before)
        Iconv.close(probe)
        Iconv.close(warmUp)
        isStateless = try Iconv.isStateless(encoding)
    }

    func take() throws(PortError) -> iconv_t {
        if let bits = idle.withLock({ $0.popLast() }), let converter = UnsafeMutableRawPointer(bitPattern: bits) {
            return converter
        }
        return try Iconv.open(encoding)
    }

    func put(_ converter: iconv_t) {
        let kept = idle.withLock { idle in
            guard idle.count < ConverterPool.maximumIdle else { return false }
            idle.append(UInt(bitPattern: converter))
            return true
        }
        if !kept { Iconv.close(converter) }
    }

    /// The record of `encoding`, created (and measured) on first use.
    static func named(_ encoding: String) throws(PortError) -> ConverterPool {
        if let pool = pools.withLock({ $0[encoding] }) { return pool }
        let pool = try ConverterPool(encoding: encoding)
        return pools.withLock { pools in
            if let existing = pools[encoding] { return existing }
            pools[encoding] = pool
            return pool
        }
    }

    private static let pools = Lock<[String: ConverterPool]>([:])
}
