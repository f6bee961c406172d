import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// Thin wrappers over iconv(3).
///
/// Every `iconv_open` and `iconv_close` of the
/// library goes through ``open(to:from:)`` and ``close(_:)``.
internal enum Iconv {
    /// How a conversion call ended.
    enum Outcome: Equatable {
        /// All the input was converted.
        case done
        /// Input that is invalid in the source encoding, or a character the
        /// target cannot represent, at the consumed offset (EILSEQ).
        case invalid
        /// An incomplete sequence ends the input, at the consumed offset
        /// (EINVAL); more input may complete it.
        case incomplete
        /// Another error (its errno).
        case failed(Int32)

        /// How a call that stopped with `errno` (0: no error; never E2BIG)
        /// ended.
        init(errno code: Int32) {
            switch code {
            case 0: self = .done
            case EILSEQ: self = .invalid
            case EINVAL: self = .incomplete
            default: self = .failed(code)
            }
        }
    }

    /// Opens a converter from `source` to `target`, inside the library's gate
    /// (glibc takes its process-wide `__gconv_lock`, which must not be held
    /// at a fork).
    ///
    /// - Throws: ``PortError/unknownEncoding(_:)`` for an empty name, a name
    ///   holding NUL, or one iconv does not know (EINVAL), naming the
    ///   encoding that is not UTF-8; ``PortError/invalidArgument(_:)`` for a
    ///   name with glibc's `//IGNORE` suffix;
    ///   ``PortError/system(operation:errno:)``.
    static func open(to target: String, from source: String) throws(PortError) -> iconv_t {
        let named = target == "UTF-8" ? source : target
        guard !target.isEmpty, !source.isEmpty, !target.utf8.contains(0), !source.utf8.contains(0) else {
            throw .unknownEncoding(named)
        }
        // With IGNORE glibc's iconv skips what it cannot convert but still
        // ends the call with EILSEQ, past the input, so a port could neither
        // tell skipped input from invalid input nor name its offset. The
        // ports' own policy does the same with exact offsets.
        if ignoresInvalidInput(named) {
            throw .invalidArgument(
                "\(named.debugDescription): the //IGNORE suffix is not supported; use InvalidInputPolicy.replace(with: \"\") to skip what cannot be converted"
            )
        }
        let (converter, code) = withinLibraryGate { (iconv_open(target, source), errno) }
        guard let converter, Int(bitPattern: converter) != -1 else {
            if code == EINVAL { throw .unknownEncoding(named) }
            throw .system(operation: "iconv_open", errno: code)
        }
        return converter
    }

    /// Whether an encoding name carries glibc's IGNORE error handler, in
    /// its suffixes after `//` (`ASCII//IGNORE`, `ASCII//TRANSLIT,IGNORE`).
    private static func ignoresInvalidInput(_ name: String) -> Bool {
        guard let slashes = name.firstRange(of: "//") else { return false }
        return name[slashes.upperBound...].split(whereSeparator: { $0 == "," || $0 == "/" })
            .contains { $0.uppercased() == "IGNORE" }
    }

    /// Closes a converter, inside the library's gate like ``open(to:from:)``.
    static func close(_ converter: iconv_t) {
        withinLibraryGate { _ = iconv_close(converter) }
    }

    /// Converts `input` onto the end of `output`, growing it, until the
    /// input is used up or a conversion error.
    ///
    /// - Returns: The input bytes consumed, and how the conversion ended.
    static func convert(
        _ converter: iconv_t, _ input: UnsafeRawBufferPointer, into output: inout ByteBuffer
    ) -> (consumed: Int, outcome: Outcome) {
        guard let base = input.baseAddress, input.count > 0 else { return (0, .done) }
        var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(
            mutating: base.assumingMemoryBound(to: CChar.self))
        var inLeft = input.count
        // Most encodings take about as many bytes as UTF-8: ask for that much
        // room first (a string port's short buffer then holds a short write),
        // and more after each E2BIG.
        var room = min(max(16, input.count), 1 << 20)
        while true {
            let (code, had) = call(converter, &inPointer, &inLeft, into: &output, room: room)
            if code == E2BIG {
                room = max(room, had) * 2
                continue
            }
            return (input.count - inLeft, Outcome(errno: code))
        }
    }

    /// Converts `input` and discards the output: where a conversion of it
    /// would stop, and why.
    static func check(_ converter: iconv_t, _ input: UnsafeRawBufferPointer) -> (consumed: Int, outcome: Outcome) {
        guard let base = input.baseAddress, input.count > 0 else { return (0, .done) }
        var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(
            mutating: base.assumingMemoryBound(to: CChar.self))
        var inLeft = input.count
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { scratch in
            while true {
                var outPointer: UnsafeMutablePointer<CChar>? = scratch.baseAddress
                var outLeft = scratch.count
                let code = iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft) == -1 ? errno : 0
                if code != E2BIG { return (input.count - inLeft, Outcome(errno: code)) }
            }
        }
    }

    /// Appends the bytes that return the converter to its initial state (a
    /// shift sequence, the end of a UTF-7 run, a character a decoder held
    /// back) and returns it there.
    static func finish(_ converter: iconv_t, into output: inout ByteBuffer) {
        // Most converters have nothing to write: try with the room there is
        // (none, perhaps), and make more only when told to.
        var room = 0
        while call(converter, nil, nil, into: &output, room: room).errno == E2BIG && room <= 1 << 16 {
            room = max(8, room * 4)
        }
    }

    /// One iconv(3) call that writes at the end of `output`, with at least
    /// `room` bytes free, and keeps what it wrote.
    ///
    /// `input` and `inputLeft` are iconv's (nil for a call that returns to
    /// the initial state).
    ///
    /// - Returns: 0 when the call converted all its input, else its errno;
    ///   and the free bytes it had.
    private static func call(
        _ converter: iconv_t, _ input: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ inputLeft: UnsafeMutablePointer<Int>?, into output: inout ByteBuffer, room: Int
    ) -> (errno: Int32, room: Int) {
        output.reserveFree(room)
        let free = output.freeSpace
        var outPointer: UnsafeMutablePointer<CChar>? = free.baseAddress!.assumingMemoryBound(to: CChar.self)
        var outLeft = free.count
        let code = iconv(converter, input, inputLeft, &outPointer, &outLeft) == -1 ? errno : 0
        output.commit(free.count - outLeft)
        return (code, free.count)
    }

    /// Returns the converter to its initial state, discarding what that
    /// would write.
    static func reset(_ converter: iconv_t) {
        _ = iconv(converter, nil, nil, nil, nil)
    }
}
