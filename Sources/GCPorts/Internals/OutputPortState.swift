import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// An output port's state: its converter slot, its output buffer, the
/// incomplete UTF-8 sequence held from the last write and, for a file port,
/// the descriptor.
///
/// It is the handle of the port's foreign resource, so it lives in the
/// port's record (a pointer-free GC object, see ``PortResource``), and a
/// string port's first bytes of output live in the record too, after it.
/// Every use is under the record's lock, or in its release, which runs once,
/// after the port was closed (or found dropped) under that lock. The
/// registry entry of the open-ports table keeps the record reachable, so
/// the table's vacuum can end, flush and release the port after the port
/// itself was collected.
internal struct OutputPortState: PortState, ~Copyable {
    // Fields in the order that packs them tightest (the record is GC memory
    // that every dropped port leaves until a collection finds it).
    /// Read without the lock (``OutputPort/line``, ``OutputPort/column``).
    let position = AtomicPortPosition()
    /// The encoded bytes: for a file port, those not yet written; for a
    /// string port, the whole output.
    var buffer: ByteBuffer
    let descriptor: Int32
    let closesDescriptor: Bool
    /// ``InvalidInputPolicy/replace(with:)``: invalid input is replaced, not
    /// thrown.
    let replaces: Bool
    /// The output was ended in mid-stream (a string port's
    /// ``OutputPort/contents()``): drop the prefix (byte-order mark) the
    /// converter will write again before the next character.
    var dropsPrefix = false
    /// The port's own converter has converted something (so it wrote its
    /// prefix, if it has one).
    var hasEncoded = false
    /// The port's own converter wrote since the output was last ended.
    var isUnended = false
    var converter: ConverterSlot
    /// Bytes buffered before a file port writes (at most 2^30).
    let bufferCapacity: Int32
    /// The replacement text, as UTF-8 (converted in the port's current state
    /// each time it is written, so it is valid in that state).
    var replacement: [UInt8]
    /// An incomplete UTF-8 sequence that ended the last write, waiting for
    /// the next write (or close) to complete it.
    var held: [UInt8] = []
    /// Offset of `held` in the write that supplied it.
    var heldOffset = 0

    var isFilePort: Bool { descriptor >= 0 }

    /// A port's state, with its buffer in `inlineBuffer` when it fits there
    /// (`bufferCapacity` bytes or fewer), else malloc'd.
    init(
        converter: ConverterSlot, descriptor: Int32, closesDescriptor: Bool, bufferCapacity: Int,
        invalidInput: InvalidInputPolicy, inlineBuffer: UnsafeMutableRawBufferPointer
    ) throws(PortError) {
        let replacement = invalidInput.replacementUTF8
        if case .replace(let text) = invalidInput, !converter.isIdentity {
            // The replacement must be representable: check it once with a
            // converter of the pool (never the port's own).
            let pool = converter.pool
            let probe = try pool.take()
            var scratch = ByteBuffer(capacity: 64)
            let (_, outcome) = replacement.withUnsafeBytes { Iconv.convert(probe, $0, into: &scratch) }
            pool.put(probe)
            guard outcome == .done else { throw .unencodableReplacement(text) }
        }
        self.converter = converter
        self.descriptor = descriptor
        self.closesDescriptor = closesDescriptor
        self.bufferCapacity = Int32(bufferCapacity)
        if case .replace = invalidInput { replaces = true } else { replaces = false }
        self.replacement = replacement
        buffer =
            inlineBuffer.count >= bufferCapacity
            ? ByteBuffer(inline: inlineBuffer) : ByteBuffer(capacity: bufferCapacity)
    }

    /// Malloc bytes the port holds: what it reports to `ForeignMemory`.
    ///
    /// Its buffer once malloc'd, and a converter while it holds one; its
    /// record is GC memory, which the collector counts itself.
    var foreignByteCount: Int { buffer.mallocByteCount + converter.heldBytes }

    /// A file port (output to flush, perhaps a descriptor to close), or a
    /// buffer, a converter, held bytes or a replacement to give back.
    var needsRelease: Bool {
        isFilePort || foreignByteCount > 0 || converter.held != nil || !held.isEmpty || !replacement.isEmpty
    }

    func loadPosition() -> PortPosition { position.load() }

    /// Encodes `bytes` (UTF-8) onto the buffer, and flushes a file port whose
    /// buffer is full.
    ///
    /// A write that throws ``PortError/invalidInput(byteOffset:)`` changes
    /// nothing (converter state, output, position, held bytes), except that
    /// held bytes it proves invalid are dropped.
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 text, or bytes that should be; an incomplete
    ///     sequence at their end is held for the next write.
    ///   - isValid: `bytes` are known to be valid UTF-8 (a Swift string's),
    ///     so no check of them is needed before the conversion.
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` (offset in `bytes`),
    ///   ``PortError/unencodableReplacement(_:)``,
    ///   ``PortError/system(operation:errno:)`` from iconv(3) or the flush.
    mutating func write(_ bytes: UnsafeRawBufferPointer, isValid: Bool = false) throws(PortError) {
        if bytes.isEmpty { return }
        if isValid && held.isEmpty {
            try encode(bytes, isValid: true)
        } else if held.isEmpty {
            try write(joined: bytes, heldCount: 0)
        } else {
            let joined = held + Array(bytes)
            let heldCount = held.count
            var failure: PortError?
            joined.withUnsafeBytes { joined in
                do throws(PortError) {
                    try write(joined: joined, heldCount: heldCount)
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
        }
        if isFilePort && buffer.count >= Int(bufferCapacity) { try flush() }
    }

    /// `bytes`: the held bytes (`heldCount` of them) then the caller's.
    private mutating func write(joined bytes: UnsafeRawBufferPointer, heldCount: Int) throws(PortError) {
        let tail = UTF8Scan.incompleteTailLength(bytes)
        let body = UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - tail)])
        let newHeld = Array(bytes[(bytes.count - tail)...])
        // Where the new held bytes began, in the caller's terms.
        let newHeldOffset = bytes.count - tail >= heldCount ? bytes.count - tail - heldCount : heldOffset
        if !body.isEmpty {
            do {
                try encode(body)
            } catch .invalidInput(let at) {
                if at < heldCount { held = [] }  // the held bytes were invalid
                throw .invalidInput(byteOffset: max(0, at - heldCount))
            }
        }
        held = newHeld
        heldOffset = newHeldOffset
    }

    /// Encodes valid-or-not UTF-8 `body` with the port's converter, applying
    /// the policy; on an error nothing changes.
    private mutating func encode(_ body: UnsafeRawBufferPointer, isValid: Bool = false) throws(PortError) {
        let start = buffer.count
        var position = self.position.load()
        if converter.isIdentity {
            do throws(PortError) {
                try copy(body, isValid: isValid, position: &position)
            } catch {
                buffer.truncate(toCount: start)
                throw error
            }
            self.position.store(position)
            return
        }
        let pool = converter.pool
        // A converter with state cannot be taken back to where it was: find
        // out first whether the write will be rejected. (Not needed when
        // the state is only whether a byte-order mark was written, nor when
        // nothing can fail.)
        if !replaces, !pool.isStateless, !pool.isPrefixOnly, !(isValid && pool.encodesEveryScalar) {
            try validate(body)
        }
        let (cd, borrowed) = try converter.beginUse()
        defer { converter.endUse(cd, borrowed: borrowed) }
        do throws(PortError) {
            try encode(body, with: cd, position: &position)
        } catch {
            buffer.truncate(toCount: start)
            if pool.isStateless || borrowed {
                Iconv.reset(cd)
            } else if pool.isPrefixOnly {
                // Where it was, but for a mark written by this call.
                if !hasEncoded { Iconv.reset(cd) }
            } else {
                // Validated, yet iconv refused: keep the stream decodable by
                // ending it in the initial state.
                isUnended = true
                endOutput()
            }
            throw error
        }
        if borrowed { Iconv.finish(cd, into: &buffer) }
        if dropsPrefix && buffer.count > start { dropPrefix(at: start) }
        hasEncoded = true
        isUnended = !borrowed
        self.position.store(position)
    }

    /// Throws the ``PortError/invalidInput(byteOffset:)`` that converting
    /// `body` would, without touching the port's converter.
    private func validate(_ body: UnsafeRawBufferPointer) throws(PortError) {
        if converter.pool.encodesEveryScalar {
            // Only bytes that are not UTF-8 can fail.
            let (length, outcome) = UTF8Scan.validPrefix(body)
            guard outcome == .done else { throw .invalidInput(byteOffset: length) }
            return
        }
        let pool = converter.pool
        let scratch = try pool.take()
        defer { pool.put(scratch) }
        let (consumed, outcome) = Iconv.check(scratch, body)
        switch outcome {
        case .done: return
        case .invalid, .incomplete: throw .invalidInput(byteOffset: consumed)
        case .failed(let code): throw .system(operation: "iconv", errno: code)
        }
    }

    /// The UTF-8 port's conversion: copy what is valid, apply the policy
    /// to the rest.
    private mutating func copy(_ body: UnsafeRawBufferPointer, isValid: Bool, position: inout PortPosition)
        throws(PortError)
    {
        var offset = 0
        while offset < body.count {
            let rest = UnsafeRawBufferPointer(rebasing: body[offset...])
            let (length, outcome) = isValid ? (rest.count, .done) : UTF8Scan.validPrefix(rest)
            let valid = UnsafeRawBufferPointer(rebasing: rest[..<length])
            buffer.append(valid)
            position.advance(over: valid)
            if outcome == .done { return }
            let at = offset + length
            guard replaces else { throw .invalidInput(byteOffset: at) }
            buffer.append(replacement)
            replacement.withUnsafeBytes { position.advance(over: $0) }
            offset = at + UTF8Scan.replacedLength(UnsafeRawBufferPointer(rebasing: body[at...]))
        }
    }

    private mutating func encode(
        _ body: UnsafeRawBufferPointer, with cd: iconv_t, position: inout PortPosition
    ) throws(PortError) {
        var offset = 0
        while offset < body.count {
            let rest = UnsafeRawBufferPointer(rebasing: body[offset...])
            let (consumed, outcome) = Iconv.convert(cd, rest, into: &buffer)
            position.advance(over: UnsafeRawBufferPointer(rebasing: rest[..<consumed]))
            switch outcome {
            case .done:
                return
            case .invalid, .incomplete:
                let at = offset + consumed
                guard replaces else { throw .invalidInput(byteOffset: at) }
                try writeReplacement(with: cd, position: &position)
                offset = at + UTF8Scan.replacedLength(UnsafeRawBufferPointer(rebasing: body[at...]))
            case .failed(let code):
                throw .system(operation: "iconv", errno: code)
            }
        }
    }

    /// Converts the replacement in the converter's current state, so that
    /// it is valid there (after a shift to JIS X 0208, "?" needs the shift
    /// back to ASCII first).
    private mutating func writeReplacement(with cd: iconv_t, position: inout PortPosition) throws(PortError) {
        guard !replacement.isEmpty else { return }
        let (_, outcome) = replacement.withUnsafeBytes { Iconv.convert(cd, $0, into: &buffer) }
        guard outcome == .done else { throw .unencodableReplacement(String(decoding: replacement, as: UTF8.self)) }
        replacement.withUnsafeBytes { position.advance(over: $0) }
    }

    private mutating func dropPrefix(at start: Int) {
        dropsPrefix = false
        let prefix = converter.pool.prefix
        guard !prefix.isEmpty, buffer.count - start >= prefix.count else { return }
        let written = UnsafeRawBufferPointer(rebasing: buffer.readable[start..<(start + prefix.count)])
        if written.elementsEqual(prefix) { buffer.remove(at: start, count: prefix.count) }
    }

    /// Ends the output: the held incomplete sequence follows the policy
    /// (replaced; or, with ``InvalidInputPolicy/error``, dropped and
    /// reported), and the converter returns to its initial state, writing
    /// what that takes (a shift sequence, the end of a UTF-7 run).
    ///
    /// - Parameter reportsHeld: Whether held bytes under
    ///   ``InvalidInputPolicy/error`` throw (close) or are only counted
    ///   (exit, collector).
    /// - Throws: ``PortError/invalidInput(byteOffset:)`` for held bytes, after
    ///   the output was ended.
    mutating func finish(reportsHeld: Bool) throws(PortError) {
        var failure: PortError?
        if !held.isEmpty {
            let offset = heldOffset
            held = []
            if !replaces {
                if reportsHeld {
                    failure = .invalidInput(byteOffset: offset)
                } else {
                    Ports.existingState?.discardedIncompleteInput.add(1, ordering: .relaxed)
                }
            } else if converter.isIdentity {
                var position = self.position.load()
                buffer.append(replacement)
                replacement.withUnsafeBytes { position.advance(over: $0) }
                self.position.store(position)
            } else {
                var position = self.position.load()
                do throws(PortError) {
                    let (cd, borrowed) = try converter.beginUse()
                    defer { converter.endUse(cd, borrowed: borrowed) }
                    try writeReplacement(with: cd, position: &position)
                    if borrowed { Iconv.finish(cd, into: &buffer) } else { isUnended = true }
                } catch {
                    failure = error
                }
                self.position.store(position)
            }
        }
        endOutput()
        if let failure { throw failure }
    }

    /// Returns the port's own converter to its initial state, writing what
    /// that takes, if it wrote since the output was last ended. (Only then:
    /// a converter whose output was ended writes ISO-2022-KR's header again
    /// at the next call, even an ending one.)
    mutating func endOutput() {
        guard let cd = converter.held, isUnended else { return }
        Iconv.finish(cd, into: &buffer)
        dropsPrefix = true
        isUnended = false
    }

    /// Writes a file port's buffer to its descriptor.
    ///
    /// On an error the bytes not written stay buffered.
    ///
    /// - Throws: ``PortError/system(operation:errno:)`` when write(2) fails.
    mutating func flush() throws(PortError) {
        guard isFilePort else { return }
        defer { buffer.shrinkIfOversized(baseline: max(Int(bufferCapacity), 1 << 16)) }
        while !buffer.isEmpty {
            let bytes = buffer.readable
            let written = Glibc.write(descriptor, bytes.baseAddress!, bytes.count)
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .system(operation: "write", errno: code)
            }
            buffer.consume(written)
        }
    }

    /// Releases the port, once, after it was closed (or found dropped)
    /// under its lock.
    ///
    /// Ends the output (held bytes are counted, not thrown) and flushes it
    /// (a failed flush is counted in ``Ports/Statistics/flushFailures``),
    /// gives the converter back to its pool or closes it, closes the
    /// descriptor if the port owns it, and frees the buffer. The state stays
    /// valid, holding nothing.
    mutating func release() {
        try? finish(reportsHeld: false)
        do {
            try flush()
        } catch {
            Ports.existingState?.flushFailures.add(1, ordering: .relaxed)
        }
        converter.release()
        if closesDescriptor { _ = Glibc.close(descriptor) }
        buffer.release()
        replacement = []
        held = []
    }
}
