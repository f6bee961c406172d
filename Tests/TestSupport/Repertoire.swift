import Foundation

/// The encodings the round-trip and transcode tests cover: Unicode forms,
/// 8-bit, multibyte and stateful (ISO-2022, UTF-7, byte-order marks) ones.
package let testedEncodings = [
    "UTF-8", "UTF-16LE", "UTF-16BE", "UTF-16", "UTF-32", "UTF-7", "ISO-8859-1", "ISO-8859-15", "CP1252", "KOI8-R",
    "EUC-JP", "SHIFT_JIS", "GB18030", "BIG5", "EUC-KR", "ISO-2022-JP", "ISO-2022-KR",
]

/// Characters an encoding can represent, as iconv(1) says: candidates from
/// many scripts, kept when they survive a round trip through iconv(1).
package enum Repertoire {
    /// Line feed, tab and carriage return: every tested encoding has them
    /// (line feeds thrice, so lines come often).
    package static let controls: [Unicode.Scalar] = ["\n", "\n", "\n", "\t", "\r"]

    /// Candidate scalars (no controls): ASCII, Latin-1 and Latin-9 extras,
    /// Greek, Cyrillic, punctuation and symbols, box drawing, CJK symbols,
    /// kana, a sample of ideographs and Hangul, full- and half-width forms,
    /// combining marks and some astral characters.
    package static let candidates: [Unicode.Scalar] = {
        var random = SeededRandom(seed: 12)
        var values: [UInt32] = Array(0x20...0x7E)
        values += Array(0xA0...0xFF) + [0x152, 0x153, 0x160, 0x161, 0x17D, 0x17E, 0x178, 0x192, 0x2C6, 0x2DC]
        values += Array(0x391...0x3A9) + Array(0x3B1...0x3C9) + Array(0x401...0x44F) + [0x451]
        values += Array(0x2010...0x2026) + [0x2030, 0x2039, 0x203A, 0x20AC, 0x2122, 0x2116, 0x2190, 0x2192, 0x221A]
        values += Array(0x2500...0x2570).filter { $0 % 3 == 0 } + [0x2580, 0x2584, 0x2588, 0x258C, 0x2590]
        values += Array(0x3000...0x3015) + Array(0x3041...0x3093) + Array(0x30A1...0x30F6)
        values += (0..<400).map { _ in UInt32.random(in: 0x4E00...0x9FA5, using: &random) }
        values += (0..<150).map { _ in UInt32.random(in: 0xAC00...0xD7A3, using: &random) }
        values += Array(0xFF01...0xFF5E).filter { $0 % 4 == 0 } + Array(0xFF61...0xFF9F).filter { $0 % 3 == 0 }
        values += [0x301, 0x308, 0x1F600, 0x1F680, 0x20000, 0x2A6D6, 0x10348, 0xFFFD, 0xE000]
        return values.compactMap(Unicode.Scalar.init)
    }()

    private static let cache = Locked([String: [Unicode.Scalar]]())

    /// The candidates `encoding` represents (one round trip per candidate,
    /// all in one pair of iconv(1) runs, cached).
    package static func of(_ encoding: String) throws -> [Unicode.Scalar] {
        if let known = cache.withLock({ $0[encoding] }) { return known }
        // One candidate per line; a candidate iconv -c drops leaves its line
        // empty, one that comes back different is left out too.
        let lines = candidates.map { String($0) }.joined(separator: "\n")
        let encoded = try iconv(Array(lines.utf8), from: "UTF-8", to: encoding, extra: ["-c"])
        let back = String(decoding: try iconv(encoded, from: encoding, to: "UTF-8"), as: UTF8.self)
        let returned = back.split(separator: "\n", omittingEmptySubsequences: false)
        var kept = controls
        for (line, scalar) in candidates.enumerated()
        where line < returned.count && returned[line].unicodeScalars.elementsEqual([scalar]) {
            kept.append(scalar)
        }
        cache.withLock { $0[encoding] = kept }
        return kept
    }

    /// Random text of `length` scalars from `encoding`'s repertoire, half of
    /// them ASCII (so shift sequences come and go).
    package static func text(_ encoding: String, length: Int, using random: inout SeededRandom) throws -> String {
        let repertoire = try of(encoding)
        let ascii = repertoire.filter { $0.isASCII }
        var scalars = String.UnicodeScalarView()
        for _ in 0..<length {
            let pool = Bool.random(using: &random) && !ascii.isEmpty ? ascii : repertoire
            scalars.append(pool[Int.random(in: 0..<pool.count, using: &random)])
        }
        return String(scalars)
    }
}
