import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// An input port's state: where its bytes come from, the raw bytes not yet
/// decoded, the decoded text not yet read, and its converter slot.
///
/// It is the handle of the port's foreign resource, so it lives in the
/// port's record (a pointer-free GC object, see ``PortResource``); its two
/// buffers are malloc'd (read(2) writes into one). Every use is under the
/// record's lock (the blocking read(2) included), or in its release, which
/// runs once, after the port was closed (or found dropped) under that lock.
/// The registry entry of the open-ports table keeps the record reachable,
/// so the table's vacuum can release the port (give its converter back,
/// close its descriptor if the port owns it) after the port itself was
/// collected.
internal struct InputPortState: PortState, ~Copyable {
    enum Source {
        case bytes([UInt8])
        case descriptor(Int32)
    }

    /// Emptied (no bytes, no descriptor) when the port is released.
    var source: Source
    let closesDescriptor: Bool
    /// ``InvalidInputPolicy/replace(with:)``: invalid input is replaced, not
    /// thrown.
    let replaces: Bool
    /// Bytes asked of each read(2) (or taken from memory at a time).
    let bufferCapacity: Int
    /// The replacement text, as UTF-8.
    var replacement: [UInt8]
    var converter: ConverterSlot
    /// Input read and not yet decoded (an incomplete sequence waiting for
    /// the rest, or bytes from the invalid input on).
    var raw: ByteBuffer
    /// Decoded text (UTF-8) not yet read.
    var text: ByteBuffer
    let textBaseline: Int
    let rawBaseline: Int
    /// Bytes of memory input handed to the decoder so far.
    var sourceOffset = 0
    /// Input offset of the first byte in `raw`.
    var rawOffset = 0
    /// The source has no more bytes.
    var sourceEnded = false
    /// Everything was decoded, the converter finished.
    var atEnd = false
    /// Invalid input was reached (policy `.error`): the text before it can
    /// still be read; every read that must go further throws this.
    var pendingError: PortError?
    /// Read without the lock (``InputPort/line``, ``InputPort/column``).
    let position = AtomicPortPosition()

    init(
        source: Source, closesDescriptor: Bool, bufferCapacity: Int, invalidInput: InvalidInputPolicy,
        converter: ConverterSlot
    ) {
        self.source = source
        self.closesDescriptor = closesDescriptor
        self.bufferCapacity = bufferCapacity
        if case .replace = invalidInput { replaces = true } else { replaces = false }
        replacement = invalidInput.replacementUTF8
        self.converter = converter
        rawBaseline = InputPortState.rawCapacity(bufferCapacity)
        textBaseline = InputPortState.textCapacity(bufferCapacity)
        raw = ByteBuffer(capacity: rawBaseline)
        text = ByteBuffer(capacity: textBaseline)
    }

    /// Malloc bytes the port holds: what it reports to `ForeignMemory`.
    ///
    /// Its two buffers, the bytes of a bytes port, and a converter while it
    /// holds one.
    var foreignByteCount: Int {
        var sourceBytes = 0
        if case .bytes(let bytes) = source { sourceBytes = bytes.count }
        return raw.mallocByteCount + text.mallocByteCount + sourceBytes + converter.heldBytes
    }

    /// Always: an input port's buffers are malloc'd.
    var needsRelease: Bool { true }

    func loadPosition() -> PortPosition { position.load() }

    /// Initial raw buffer: a block, and room for the incomplete sequence
    /// left from the block before.
    static func rawCapacity(_ bufferCapacity: Int) -> Int { bufferCapacity + 64 }
    /// Initial text buffer: a block's text (twice the bytes: Latin-1 letters
    /// take two bytes of UTF-8).
    static func textCapacity(_ bufferCapacity: Int) -> Int { min(bufferCapacity, 1 << 24) * 2 + 64 }

    /// More text may still be decoded.
    var canGrow: Bool { !atEnd && pendingError == nil }

    /// Reads and decodes until the text grows or no more can come.
    ///
    /// - Returns: Whether the text grew.
    @discardableResult
    mutating func fillMore() throws(PortError) -> Bool {
        let before = text.count
        while canGrow && text.count == before {
            try readBlock()
            try decode()
        }
        return text.count > before
    }

    private mutating func readBlock() throws(PortError) {
        guard !sourceEnded else { return }
        switch source {
        case .bytes(let bytes):
            let count = min(bufferCapacity, bytes.count - sourceOffset)
            if count == 0 {
                sourceEnded = true
                return
            }
            bytes.withUnsafeBytes { all in
                raw.append(UnsafeRawBufferPointer(rebasing: all[sourceOffset..<(sourceOffset + count)]))
            }
            sourceOffset += count
        case .descriptor(let descriptor):
            raw.reserveFree(bufferCapacity)
            while true {
                let count = Glibc.read(descriptor, raw.freeSpace.baseAddress!, bufferCapacity)
                if count < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw .system(operation: "read", errno: code)
                }
                if count == 0 { sourceEnded = true } else { raw.commit(count) }
                return
            }
        }
    }

    private mutating func decode() throws(PortError) {
        if converter.isIdentity {
            try decode(with: nil, borrowed: false)
        } else {
            let (cd, borrowed) = try converter.beginUse()
            defer { converter.endUse(cd, borrowed: borrowed) }
            try decode(with: cd, borrowed: borrowed)
        }
    }

    /// Decodes with `cd`, or validates and copies UTF-8 when nil.
    private mutating func decode(with cd: iconv_t?, borrowed: Bool) throws(PortError) {
        conversion: while true {
            let (consumed, outcome) = convert(raw.readable, with: cd)
            raw.consume(consumed)
            rawOffset += consumed
            switch outcome {
            case .done:
                break conversion
            case .incomplete where !sourceEnded:
                break conversion  // the rest comes with the next block
            case .incomplete, .invalid:
                // Invalid input, or an incomplete sequence that ends the input.
                guard replaces else {
                    pendingError = .invalidInput(byteOffset: rawOffset)
                    return
                }
                text.append(replacement)
                // One replacement per invalid code unit, one for the
                // incomplete end.
                let skipped = outcome == .invalid ? min(converter.pool.unitSize, raw.count) : raw.count
                raw.consume(skipped)
                rawOffset += skipped
            case .failed(let code):
                throw .system(operation: "iconv", errno: code)
            }
        }
        if sourceEnded && raw.isEmpty {
            // Characters a decoder held back (CP1255 waits for combining
            // marks) come out now.
            if let cd { Iconv.finish(cd, into: &text) }
            atEnd = true
        } else if borrowed, let cd {
            Iconv.finish(cd, into: &text)
        }
    }

    private mutating func convert(_ input: UnsafeRawBufferPointer, with cd: iconv_t?) -> (Int, Iconv.Outcome) {
        guard let cd else {
            let (length, outcome) = UTF8Scan.validPrefix(input)
            text.append(UnsafeRawBufferPointer(rebasing: input[..<length]))
            return (length, outcome)
        }
        return Iconv.convert(cd, input, into: &text)
    }

    /// Byte length and number of the first `limit` whole characters
    /// (extended grapheme clusters) of the text, decoding more as needed;
    /// fewer at the end of the input or before invalid input.
    mutating func scanCharacters(_ limit: Int) throws(PortError) -> (byteCount: Int, count: Int) {
        var scanned = 0
        var counted = 0
        var window = limit > 1 << 20 ? 1 << 22 : limit * 4 + 64
        while counted < limit {
            let available = text.count - scanned
            let final = !canGrow
            if available == 0 {
                if final { break }
                try fillMore()
                continue
            }
            let readable = text.readable
            var length = min(window, available)
            // Cut the window at a scalar boundary.
            while length < available && length > 0 && readable[scanned + length] & 0xC0 == 0x80 { length -= 1 }
            let wholeRest = length == available
            let chunk = String(
                decoding: UnsafeRawBufferPointer(rebasing: readable[scanned..<(scanned + length)]), as: UTF8.self)
            // The last character of the chunk may go on in the text after
            // it, unless nothing can follow.
            let lastIsWhole = final && wholeRest
            let before = counted
            var index = chunk.startIndex
            while counted < limit && index < chunk.endIndex {
                let next = chunk.index(after: index)
                if next == chunk.endIndex && !lastIsWhole { break }
                scanned += chunk.utf8.distance(from: index, to: next)
                counted += 1
                index = next
            }
            if counted == limit || (final && wholeRest) { break }
            if wholeRest {
                try fillMore()
            } else if counted == before {
                window *= 2
            }
        }
        return (scanned, counted)
    }

    /// Removes `byteCount` bytes of text, moving the position over them,
    /// and returns the first `keeping` of them as a string.
    mutating func take(_ byteCount: Int, keeping: Int? = nil) -> String {
        let bytes = UnsafeRawBufferPointer(rebasing: text.readable[..<byteCount])
        let string = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<(keeping ?? byteCount)]), as: UTF8.self)
        consume(byteCount)
        return string
    }

    /// Removes `byteCount` bytes of text, moving the position over them.
    private mutating func consume(_ byteCount: Int) {
        var position = self.position.load()
        position.advance(over: UnsafeRawBufferPointer(rebasing: text.readable[..<byteCount]))
        self.position.store(position)
        text.consume(byteCount)
    }

    /// The next line, without its terminator ("\n" or "\r\n"); the last
    /// line may have none; nil at the end of the input.
    mutating func readLine() throws(PortError) -> String? {
        var searched = 0
        while true {
            let readable = text.readable
            if readable.count > searched,
                let hit = memchr(readable.baseAddress! + searched, 0x0A, readable.count - searched)
            {
                let newline = UnsafeRawPointer(hit) - readable.baseAddress!
                let end = newline > 0 && readable[newline - 1] == 0x0D ? newline - 1 : newline
                return take(newline + 1, keeping: end)
            }
            searched = readable.count
            if !canGrow {
                if let pendingError { throw pendingError }
                return text.isEmpty ? nil : take(text.count)
            }
            try fillMore()
        }
    }

    /// All the text to the end of the input.
    mutating func readAll() throws(PortError) -> String {
        while canGrow { try fillMore() }
        if let pendingError { throw pendingError }
        return take(text.count)
    }

    /// The text decoded so far, or decoded from the next block if none;
    /// nil at the end of the input.
    mutating func readAvailable() throws(PortError) -> String? {
        guard try decodeIfEmpty() else { return nil }
        return take(text.count)
    }

    /// As ``readAvailable()``, as UTF-8 bytes.
    mutating func readAvailableUTF8() throws(PortError) -> [UInt8]? {
        guard try decodeIfEmpty() else { return nil }
        let bytes = Array(text.readable)
        consume(bytes.count)
        return bytes
    }

    /// Decodes until some text is waiting, unless some already is.
    ///
    /// - Returns: Whether text is waiting (false at the end of the input).
    /// - Throws: The pending error when invalid input comes before any text.
    private mutating func decodeIfEmpty() throws(PortError) -> Bool {
        while text.isEmpty && canGrow { try fillMore() }
        if text.isEmpty, let pendingError { throw pendingError }
        return !text.isEmpty
    }

    /// After each read: give memory back when a long line or a large read
    /// grew the text buffer.
    mutating func settle() {
        text.shrinkIfOversized(baseline: textBaseline)
        raw.shrinkIfOversized(baseline: rawBaseline)
    }

    /// Releases the port, once, after it was closed (or found dropped)
    /// under its lock.
    ///
    /// Gives the converter back to its pool or closes it, closes the
    /// descriptor if the port owns it, and frees the buffers and the bytes.
    /// The state stays valid, holding nothing.
    mutating func release() {
        converter.release()
        if closesDescriptor, case .descriptor(let descriptor) = source { _ = Glibc.close(descriptor) }
        source = .bytes([])
        raw.release()
        text.release()
        replacement = []
        pendingError = nil
    }
}
