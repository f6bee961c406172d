import BoehmGC

#if canImport(Glibc)
    import Glibc
#endif

/// An input port's foreign state.
///
/// Where its bytes come from, the raw bytes not yet decoded, the decoded
/// text not yet read, and its converter slot. It is the handle of the port's ``ForeignResource``, whose lock
/// serialises every use (the blocking read(2) included); the registry entry
/// of the open-ports table keeps it reachable, so the table's vacuum can
/// release it (give its converter back, close its descriptor if the port
/// owns it) after the port itself was collected.
internal final class InputPortCore: PortCore, @unchecked Sendable {
    // Mutable fields are touched only under the lock of the ForeignResource
    // that owns this core (withHandle), or by its release function, which
    // runs once, after the handle was taken out of that lock. `position` is
    // atomic so the port's line and column can be read without the lock.
    // That lock is what makes each access exclusive, so they skip the
    // runtime's exclusivity checks (`@exclusivity(unchecked)`).
    enum Source {
        case bytes([UInt8])
        case descriptor(Int32)
    }

    let source: Source
    let closesDescriptor: Bool
    /// Bytes asked of each read(2) (or taken from memory at a time).
    let bufferCapacity: Int
    let invalidInput: InvalidInputPolicy
    /// The replacement text, as UTF-8.
    let replacement: [UInt8]
    @exclusivity(unchecked) var converter: ConverterSlot
    /// Input read and not yet decoded (an incomplete sequence waiting for
    /// the rest, or bytes from the invalid input on).
    @exclusivity(unchecked) var raw: ByteBuffer
    /// Decoded text (UTF-8) not yet read.
    @exclusivity(unchecked) var text: ByteBuffer
    let textBaseline: Int
    let rawBaseline: Int
    /// Bytes of memory input handed to the decoder so far.
    @exclusivity(unchecked) var sourceOffset = 0
    /// Input offset of the first byte in `raw`.
    @exclusivity(unchecked) var rawOffset = 0
    /// The source has no more bytes.
    @exclusivity(unchecked) var sourceEnded = false
    /// Everything was decoded, the converter finished.
    @exclusivity(unchecked) var atEnd = false
    /// Invalid input was reached (policy `.error`): the text before it can
    /// still be read; every read that must go further throws this.
    @exclusivity(unchecked) var pendingError: PortError?
    let position = AtomicPortPosition()
    @exclusivity(unchecked) var account: PortAccount

    init(
        source: Source, closesDescriptor: Bool, bufferCapacity: Int, invalidInput: InvalidInputPolicy,
        converter: ConverterSlot, account: PortAccount
    ) {
        self.source = source
        self.closesDescriptor = closesDescriptor
        self.bufferCapacity = bufferCapacity
        self.invalidInput = invalidInput
        replacement = invalidInput.replacementUTF8
        self.converter = converter
        self.account = account
        rawBaseline = InputPortCore.rawCapacity(bufferCapacity)
        textBaseline = InputPortCore.textCapacity(bufferCapacity)
        raw = ByteBuffer(capacity: rawBaseline)
        text = ByteBuffer(capacity: textBaseline)
    }

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
    func fillMore() throws(PortError) -> Bool {
        let before = text.count
        while canGrow && text.count == before {
            try readBlock()
            try decode()
        }
        return text.count > before
    }

    private func readBlock() throws(PortError) {
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

    private func decode() throws(PortError) {
        if converter.isIdentity {
            try decode(with: nil, borrowed: false)
        } else {
            try withConverter { cd, borrowed throws(PortError) in try decode(with: cd, borrowed: borrowed) }
        }
    }

    /// Decodes with `cd`, or validates and copies UTF-8 when nil.
    private func decode(with cd: iconv_t?, borrowed: Bool) throws(PortError) {
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
                guard case .replace = invalidInput else {
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

    private func convert(_ input: UnsafeRawBufferPointer, with cd: iconv_t?) -> (Int, Iconv.Outcome) {
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
    func scanCharacters(_ limit: Int) throws(PortError) -> (byteCount: Int, count: Int) {
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
    func take(_ byteCount: Int, keeping: Int? = nil) -> String {
        let bytes = UnsafeRawBufferPointer(rebasing: text.readable[..<byteCount])
        let string = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<(keeping ?? byteCount)]), as: UTF8.self)
        consume(byteCount)
        return string
    }

    /// Removes `byteCount` bytes of text, moving the position over them.
    private func consume(_ byteCount: Int) {
        var position = self.position.load()
        position.advance(over: UnsafeRawBufferPointer(rebasing: text.readable[..<byteCount]))
        self.position.store(position)
        text.consume(byteCount)
    }

    /// The next line, without its terminator ("\n" or "\r\n"); the last
    /// line may have none; nil at the end of the input.
    func readLine() throws(PortError) -> String? {
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
    func readAll() throws(PortError) -> String {
        while canGrow { try fillMore() }
        if let pendingError { throw pendingError }
        return take(text.count)
    }

    /// The text decoded so far, or decoded from the next block if none;
    /// nil at the end of the input.
    func readAvailable() throws(PortError) -> String? {
        guard try decodeIfEmpty() else { return nil }
        return take(text.count)
    }

    /// As ``readAvailable()``, as UTF-8 bytes.
    func readAvailableUTF8() throws(PortError) -> [UInt8]? {
        guard try decodeIfEmpty() else { return nil }
        let bytes = Array(text.readable)
        consume(bytes.count)
        return bytes
    }

    /// Decodes until some text is waiting, unless some already is.
    ///
    /// - Returns: Whether text is waiting (false at the end of the input).
    /// - Throws: The pending error when invalid input comes before any text.
    private func decodeIfEmpty() throws(PortError) -> Bool {
        while text.isEmpty && canGrow { try fillMore() }
        if text.isEmpty, let pendingError { throw pendingError }
        return !text.isEmpty
    }

    /// After each read: give memory back when a long line or a large read
    /// grew the text buffer, and report the converter and buffers held.
    func settle() {
        text.shrinkIfOversized(baseline: textBaseline)
        raw.shrinkIfOversized(baseline: rawBaseline)
        account.update(
            to: converter.heldBytes + max(0, text.capacity - textBaseline) + max(0, raw.capacity - rawBaseline))
    }

    var ownedDescriptor: Int32? {
        guard closesDescriptor, case .descriptor(let descriptor) = source else { return nil }
        return descriptor
    }

    /// An input port has nothing to end before its release.
    func prepareForRelease() {}
}
