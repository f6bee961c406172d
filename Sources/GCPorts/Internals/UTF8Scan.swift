/// What the ports need to know of UTF-8 that iconv does not say: where an
/// incomplete sequence ends a write, and how much input one replacement
/// stands for.
internal enum UTF8Scan {
    /// Bytes of a complete sequence led by `lead`, or 0 if `lead` cannot
    /// start one.
    static func sequenceLength(lead: UInt8) -> Int {
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 0
        }
    }

    /// Whether `byte` may follow `lead` as the second byte of a sequence
    /// (the ranges that exclude overlong forms, surrogates and scalars past
    /// U+10FFFF).
    static func isValidSecond(_ byte: UInt8, after lead: UInt8) -> Bool {
        switch lead {
        case 0xE0: return (0xA0...0xBF).contains(byte)
        case 0xED: return (0x80...0x9F).contains(byte)
        case 0xF0: return (0x90...0xBF).contains(byte)
        case 0xF4: return (0x80...0x8F).contains(byte)
        default: return (0x80...0xBF).contains(byte)
        }
    }

    /// The length of the longest prefix of `bytes` that begins a valid
    /// sequence (the Unicode "maximal subpart"), from 0 (the first byte
    /// cannot start one) to a complete sequence's length.
    static func validPrefixLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let lead = bytes.first else { return 0 }
        let length = sequenceLength(lead: lead)
        guard length > 0 else { return 0 }
        var valid = 1
        while valid < length && valid < bytes.count {
            let byte = bytes[valid]
            let fits = valid == 1 ? isValidSecond(byte, after: lead) : (0x80...0xBF).contains(byte)
            guard fits else { break }
            valid += 1
        }
        return valid
    }

    /// How many bytes at the end of `bytes` are the valid beginning of a
    /// sequence that the bytes end too soon to complete (0 to 3).
    static func incompleteTailLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        var back = 1
        while back <= min(3, count) {
            let byte = bytes[count - back]
            if byte & 0xC0 != 0x80 {
                // A lead (or ASCII) byte: is it, with what follows, a valid
                // but unfinished sequence?
                let length = sequenceLength(lead: byte)
                guard length > back else { return 0 }
                let tail = UnsafeRawBufferPointer(rebasing: bytes[(count - back)...])
                return validPrefixLength(tail) == back ? back : 0
            }
            back += 1
        }
        return 0
    }

    /// The longest prefix of `bytes` made of complete, valid sequences, and
    /// why it ends there.
    ///
    /// The reason is ``Iconv/Outcome/done`` (it is all of `bytes`),
    /// ``Iconv/Outcome/incomplete`` (the rest is the valid beginning of a
    /// sequence that `bytes` end too soon to complete) or
    /// ``Iconv/Outcome/invalid``. The definition of valid is Unicode's, as
    /// glibc's UTF-8 converter applies it (no overlong forms, surrogates or
    /// scalars past U+10FFFF); ASCII runs go 8 bytes at a time.
    static func validPrefix(_ bytes: UnsafeRawBufferPointer) -> (length: Int, outcome: Iconv.Outcome) {
        guard let raw = bytes.baseAddress else { return (0, .done) }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let count = bytes.count
        var index = 0
        while index < count {
            while index + 16 <= count,
                ((raw + index).loadUnaligned(as: UInt64.self) | (raw + index + 8).loadUnaligned(as: UInt64.self))
                    & 0x8080_8080_8080_8080 == 0
            {
                index += 16
            }
            guard index < count else { break }
            let lead = base[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            // The common complete sequences first.
            let left = count - index
            if lead >= 0xC2 && lead <= 0xDF {
                if left >= 2 && base[index + 1] & 0xC0 == 0x80 {
                    index += 2
                    continue
                }
            } else if lead >= 0xE0 && lead <= 0xEF {
                if left >= 3 && isValidSecond(base[index + 1], after: lead) && base[index + 2] & 0xC0 == 0x80 {
                    index += 3
                    continue
                }
            } else if lead >= 0xF0 && lead <= 0xF4 {
                if left >= 4 && isValidSecond(base[index + 1], after: lead) && base[index + 2] & 0xC0 == 0x80
                    && base[index + 3] & 0xC0 == 0x80
                {
                    index += 4
                    continue
                }
            } else {
                return (index, .invalid)
            }
            // Not a complete sequence: the valid start of one that the bytes
            // end too soon to complete, or invalid.
            let valid = validPrefixLength(UnsafeRawBufferPointer(start: base + index, count: left))
            return (index, valid == left ? .incomplete : .invalid)
        }
        return (count, .done)
    }

    /// Input bytes one replacement stands for at the start of `bytes`, where
    /// iconv stopped: a complete sequence (a character the target encoding
    /// cannot represent), or else the maximal invalid subpart (at least one
    /// byte), as Swift's `String(decoding:as:)` replaces them.
    static func replacedLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        max(1, validPrefixLength(bytes))
    }
}
