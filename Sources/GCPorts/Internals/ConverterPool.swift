import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// The two directions of the ports' conversions.
internal enum ConversionDirection: Sendable, Hashable {
    /// UTF-8 to the port's encoding (output ports).
    case encoding
    /// The port's encoding to UTF-8 (input ports).
    case decoding
}

/// What the ports know of one encoding in one direction, learnt once by
/// probing converters, and the idle converters its ports borrow.
///
/// Ports of a stateless encoding borrow a converter for each operation;
/// ports of a stateful one take a converter at their first operation and
/// give it back at close or when their port is found dropped (see
/// ``ConverterSlot``). A converter given back is returned to its initial
/// state and kept, up to ``maximumIdle`` per pool, if such a converter
/// behaves as a new one (a UTF-16 decoder does not: it keeps the byte order
/// of the last byte-order mark it read); otherwise it is closed.
internal final class ConverterPool: Sendable {
    let encoding: String
    let direction: ConversionDirection
    /// Malloc bytes one converter holds, measured once around a second
    /// `iconv_open` (the first also loads and caches glibc's conversion
    /// module: 33,040 against 37,952 bytes for ISO-8859-15 on glibc 2.36),
    /// under glibc's malloc or jemalloc (`ForeignResources.mallocMeasurement`;
    /// a fixed 32 KiB for a malloc the library cannot read).
    let converterBytes: Int
    /// Converters keep no state between operations: no byte-order mark,
    /// no shift state, no character held back until the next one.
    let isStateless: Bool
    /// A converter returned to its initial state behaves as a new one, so
    /// it may be kept for another port.
    let isReusable: Bool
    /// Encoding only: every probed Unicode scalar is representable (UTF-16,
    /// UTF-32, UTF-7, GB18030, ...), so only invalid UTF-8 can make a write
    /// fail.
    let encodesEveryScalar: Bool
    /// Encoding only: the bytes a converter writes before its first
    /// character (a byte-order mark), empty for most encodings.
    let prefix: [UInt8]
    /// The encoding is UTF-8 itself: ports validate and copy, with no
    /// converter at all (iconv would convert UTF-8 to UCS-4 and back).
    let isIdentity: Bool
    /// Encoding only: the only state is whether the ``prefix`` was written
    /// (UTF-16, UTF-32): after a failed conversion the converter is where
    /// it was, unless the failed call wrote the prefix.
    let isPrefixOnly: Bool
    /// Decoding only: input bytes skipped per replacement of invalid input
    /// (the encoding's code unit: 2 for UTF-16, 4 for UTF-32, else 1).
    let unitSize: Int
    /// Idle converters, as bit patterns (an iconv_t is a plain pointer).
    private let idle = Lock<[UInt]>([])

    /// Idle converters kept per pool; more are closed when given back.
    static let maximumIdle = 64

    fileprivate init(encoding: String, direction: ConversionDirection, pools: ConverterPools) throws(PortError) {
        self.encoding = encoding
        self.direction = direction
        isIdentity = ["UTF-8", "UTF8"].contains(encoding.uppercased())
        let open = { () throws(PortError) -> iconv_t in try ConverterPool.open(encoding, direction) }
        let warmUp = try open()
        var probe: iconv_t?
        converterBytes = try ForeignResources.measureAllocation { () throws(PortError) in probe = try open() }
        Iconv.close(probe!)
        Iconv.close(warmUp)
        switch direction {
        case .encoding:
            let traits = try Probe.encoder(open)
            (isStateless, isReusable, encodesEveryScalar, prefix, isPrefixOnly) =
                (traits.isStateless, traits.isReusable, traits.encodesEveryScalar, traits.prefix, traits.isPrefixOnly)
            unitSize = 1
        case .decoding:
            let encoder = try? pools.named(encoding, .encoding)
            let traits = try Probe.decoder(open)
            isStateless = traits.isStateless && (encoder?.isStateless ?? true)
            isReusable = traits.isReusable
            encodesEveryScalar = false
            prefix = []
            isPrefixOnly = false
            unitSize = encoder.map { Probe.unitSize(of: $0) } ?? 1
        }
    }

    /// A converter in its initial state: an idle one, or a new one.
    ///
    /// - Throws: ``PortError/system(operation:errno:)`` if `iconv_open` fails.
    func take() throws(PortError) -> iconv_t {
        if let bits = idle.withLock({ $0.popLast() }), let converter = UnsafeMutableRawPointer(bitPattern: bits) {
            return converter
        }
        return try open()
    }

    /// Opens a new converter (never an idle one).
    func open() throws(PortError) -> iconv_t {
        try ConverterPool.open(encoding, direction)
    }

    /// Opens a new converter between `encoding` and UTF-8 in `direction`.
    private static func open(_ encoding: String, _ direction: ConversionDirection) throws(PortError) -> iconv_t {
        switch direction {
        case .encoding: try Iconv.open(to: encoding, from: "UTF-8")
        case .decoding: try Iconv.open(to: "UTF-8", from: encoding)
        }
    }

    /// Gives a converter back: reset and kept if it can serve another port
    /// and the pool has room, else closed.
    func put(_ converter: iconv_t) {
        guard isReusable else {
            Iconv.close(converter)
            return
        }
        Iconv.reset(converter)
        let kept = idle.withLock { idle in
            guard idle.count < ConverterPool.maximumIdle else { return false }
            idle.append(UInt(bitPattern: converter))
            return true
        }
        if !kept { Iconv.close(converter) }
    }

    /// Idle converters now.
    var idleCount: Int { idle.withLock { $0.count } }
}

/// The ports' converter pools, held by the ports' state (``PortsState``).
internal final class ConverterPools: Sendable {
    private struct Key: Hashable {
        var encoding: String
        var direction: ConversionDirection
    }

    private let pools = Lock<[Key: ConverterPool]>([:])

    /// The pool of `encoding` in `direction`, created (and probed) on first
    /// use.
    ///
    /// - Throws: ``PortError/unknownEncoding(_:)`` if iconv cannot convert
    ///   between `encoding` and UTF-8 in that direction.
    func named(_ encoding: String, _ direction: ConversionDirection) throws(PortError) -> ConverterPool {
        let key = Key(encoding: encoding, direction: direction)
        if let pool = pools.withLock({ $0[key] }) { return pool }
        // Inside the gate: a fork waits for the probes (and the first use of
        // their constants) to finish.
        let pool = try withinLibraryGate { () throws(PortError) in
            try ConverterPool(encoding: encoding, direction: direction, pools: self)
        }
        return pools.withLock { pools in
            if let existing = pools[key] { return existing }
            pools[key] = pool
            return pool
        }
    }

    /// The pool of `encoding` in `direction` if it was created.
    func existing(_ encoding: String, _ direction: ConversionDirection) -> ConverterPool? {
        pools.withLock { $0[Key(encoding: encoding, direction: direction)] }
    }
}

/// The probes that tell a pool what its converters are like.
private enum Probe {
    /// Characters of many scripts: some make a stateful encoder switch
    /// character sets (ISO-2022), open a run (UTF-7), or hold the character
    /// back in case a combining one follows (BIG5-HKSCS, EUC-JISX0213, TSCII).
    /// (Probe arrays are computed, not stored: made once per pool probed,
    /// they cost nothing that matters, and need no lazy global.)
    static var samples: [String] {
        ["é", "€", "日", "ア", "Ω", "Ж", "한", "Ê", "ê", "か", "ə", "க", "😀", "\u{0301}", "+"]
    }
    /// Scalars from every plane and the edges of the ranges: an encoder that
    /// takes all of them is taken to represent every scalar.
    static var allScalars: [String] {
        [
            "a", "\u{0}", "\u{7F}", "\u{80}", "é", "€", "日", "\u{E000}", "\u{FFFD}", "\u{FFFF}", "😀", "\u{2FFFF}",
            "\u{10FFFF}",
        ]
    }

    struct Encoder {
        var isStateless: Bool
        var isReusable: Bool
        var encodesEveryScalar: Bool
        var prefix: [UInt8]
        var isPrefixOnly: Bool
    }

    struct Decoder {
        var isStateless: Bool
        var isReusable: Bool
    }

    /// Converts `bytes` with `converter`; the output and whether all of it
    /// converted.
    static func run(_ converter: iconv_t, _ bytes: [UInt8]) -> (output: [UInt8], outcome: Iconv.Outcome) {
        var buffer = ByteBuffer(capacity: 64)
        let (_, outcome) = bytes.withUnsafeBytes { Iconv.convert(converter, $0, into: &buffer) }
        return (Array(buffer.readable), outcome)
    }

    static func finish(_ converter: iconv_t) -> [UInt8] {
        var buffer = ByteBuffer(capacity: 64)
        Iconv.finish(converter, into: &buffer)
        return Array(buffer.readable)
    }

    static func encoder(_ open: () throws(PortError) -> iconv_t) throws(PortError) -> Encoder {
        let converter = try open()
        defer { Iconv.close(converter) }
        let first = run(converter, [0x61]).output
        let second = run(converter, [0x61]).output
        let prefix =
            first.count > second.count && first.suffix(second.count) == second[...]
            ? Array(first.prefix(first.count - second.count)) : []
        var shifts = false
        for sample in samples {
            let fresh = try open()
            defer { Iconv.close(fresh) }
            if run(fresh, Array(sample.utf8)).outcome == .done && !finish(fresh).isEmpty { shifts = true }
        }
        let stateless = first == second && !shifts
        // Reusable: after any of the samples and a reset, "a" comes out as
        // from a new converter.
        Iconv.reset(converter)
        for sample in samples { _ = run(converter, Array(sample.utf8)) }
        Iconv.reset(converter)
        let reusable = run(converter, [0x61]).output == first
        Iconv.reset(converter)
        var every = true
        for scalar in allScalars where run(converter, Array(scalar.utf8)).outcome != .done {
            every = false
        }
        return Encoder(
            isStateless: stateless, isReusable: reusable, encodesEveryScalar: every, prefix: prefix,
            isPrefixOnly: !prefix.isEmpty && !shifts && first == prefix + second)
    }

    /// Pairs (A, B) of inputs that tell a decoder's state.
    ///
    /// Does B decode differently after A (a byte-order mark, an escape
    /// sequence, a UTF-7 run), and after A and a reset?
    static var pairs: [([UInt8], [UInt8])] {
        [
            ([0xFE, 0xFF], [0x00, 0x61]), ([0xFF, 0xFE], [0x61, 0x00]),
            ([0x00, 0x00, 0xFE, 0xFF], [0x00, 0x00, 0x00, 0x61]),
            ([0xFF, 0xFE, 0x00, 0x00], [0x61, 0x00, 0x00, 0x00]),
            ([0x1B, 0x24, 0x42], [0x46, 0x7C]), ([0x0E], [0x46, 0x7C]), ([0x2B, 0x41], [0x47, 0x45, 0x2D]),
        ]
    }

    static func decoder(_ open: () throws(PortError) -> iconv_t) throws(PortError) -> Decoder {
        let converter = try open()
        defer { Iconv.close(converter) }
        var stateless = true
        // A character held back until the next one (CP1255, CP1258, TSCII
        // compose base letters with the combining marks after them).
        for byte in 0...255 {
            Iconv.reset(converter)
            let (output, outcome) = run(converter, [UInt8(byte)])
            if outcome == .done && output.isEmpty && !finish(converter).isEmpty {
                stateless = false
                break
            }
        }
        var reusable = true
        for (a, b) in pairs {
            let fresh = try open()
            defer { Iconv.close(fresh) }
            let alone = run(fresh, b)
            Iconv.reset(converter)
            _ = run(converter, a)
            let after = run(converter, b)
            if after != alone { stateless = false }
            Iconv.reset(converter)
            _ = run(converter, a)
            Iconv.reset(converter)
            if run(converter, b) != alone { reusable = false }
        }
        return Decoder(isStateless: stateless, isReusable: reusable)
    }

    /// Bytes per code unit of the encoder's encoding: what "aa" takes more
    /// than "a".
    static func unitSize(of encoder: ConverterPool) -> Int {
        guard let one = try? encoder.open() else { return 1 }
        defer { Iconv.close(one) }
        guard let two = try? encoder.open() else { return 1 }
        defer { Iconv.close(two) }
        let a = run(one, [0x61])
        let aa = run(two, [0x61, 0x61])
        guard a.outcome == .done, aa.outcome == .done else { return 1 }
        return min(4, max(1, aa.output.count - a.output.count))
    }
}
