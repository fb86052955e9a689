/// SentencePiece's compiled normalization rules (`precompiled_charsmap`): a Darts-clone double-array
/// trie over UTF-8 input whose leaf values are offsets of NUL-terminated replacement strings.
///
/// Blob layout: `uint32 trie_size` (little-endian), `trie_size` bytes of 32-bit trie units, then the
/// replacement strings. This is how SentencePiece applies `nmt_nfkc` (NFKC plus its NMT rules) and
/// what Hugging Face's `Precompiled` normalizer reads, so no Unicode NFKC tables are needed here.
struct PrecompiledCharsMap {
    private let units: [UInt32]
    private let normalized: [UInt8]

    /// Rule output for each single ASCII byte (nil: no rule), computed once.
    private var asciiRules: [[UInt8]?] = []

    /// Parses the blob; `path` names the file in errors.
    init(_ blob: [UInt8], path: String) throws {
        guard blob.count >= 4 else { throw TokenizerError.malformed(path: path, reason: "precompiled_charsmap shorter than 4 bytes") }
        let size = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard size % 4 == 0, size >= 4, size <= blob.count - 4 else {
            throw TokenizerError.malformed(path: path, reason: "precompiled_charsmap trie size \(size) does not fit its \(blob.count) bytes")
        }
        var u = [UInt32](repeating: 0, count: size / 4)
        for i in 0..<u.count {
            let o = 4 + 4 * i
            u[i] = UInt32(blob[o]) | UInt32(blob[o + 1]) << 8 | UInt32(blob[o + 2]) << 16 | UInt32(blob[o + 3]) << 24
        }
        units = u
        normalized = Array(blob[(4 + size)...])
        var rules: [[UInt8]?] = []
        for b in 0..<128 {
            let key: [UInt8] = [UInt8(b)]
            rules.append(key.withUnsafeBufferPointer { shortestMatchReplacement($0).map { Array($0) } })
        }
        asciiRules = rules
    }

    @inline(__always) private static func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ u: UInt32) -> Int { Int(u & 0x7FFF_FFFF) }
    @inline(__always) private static func label(_ u: UInt32) -> UInt32 { u & 0x8000_00FF }
    @inline(__always) private static func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }

    /// Calls `found(length, value)` for every key in the trie that is a prefix of `key`, shortest
    /// first; stops early when `found` returns false.
    func commonPrefixSearch(_ key: UnsafeBufferPointer<UInt8>, _ found: (Int, Int) -> Bool) {
        guard !units.isEmpty else { return }
        var node = Self.offset(units[0])
        for i in 0..<key.count {
            let c = Int(key[i])
            node ^= c
            guard node >= 0 && node < units.count else { return }
            let u = units[node]
            guard Self.label(u) == UInt32(c) else { return }
            node ^= Self.offset(u)
            guard node >= 0 && node < units.count else { return }
            if Self.hasLeaf(u) {
                if !found(i + 1, Self.value(units[node])) { return }
            }
        }
    }

    /// The replacement bytes stored at `value` (up to the NUL), or nil if out of range.
    func replacement(_ value: Int) -> ArraySlice<UInt8>? {
        guard value >= 0 && value < normalized.count else { return nil }
        var end = value
        while end < normalized.count && normalized[end] != 0 { end += 1 }
        return normalized[value..<end]
    }

    /// SentencePiece's rule at the start of `input`: the LONGEST matching key, as
    /// `(replacement, consumed bytes)`; nil when no key matches.
    func longestMatch(_ input: UnsafeBufferPointer<UInt8>) -> (ArraySlice<UInt8>, Int)? {
        var best: (len: Int, value: Int)? = nil
        commonPrefixSearch(input) { len, value in
            if best == nil || len > best!.len { best = (len, value) }
            return true
        }
        guard let b = best, let r = replacement(b.value) else { return nil }
        return (r, b.len)
    }

    /// Hugging Face `tokenizers`' `Precompiled::transform`: the replacement of the SHORTEST key that
    /// is a prefix of `chunk` (the rest of the chunk is dropped); nil when no key matches.
    func shortestMatchReplacement(_ chunk: UnsafeBufferPointer<UInt8>) -> ArraySlice<UInt8>? {
        var first: Int? = nil
        commonPrefixSearch(chunk) { _, value in first = value; return false }
        return first.flatMap { replacement($0) }
    }

    /// SentencePiece normalization of a whole string (`normalizer.cc` `Normalize`): longest-match
    /// rules, optional removal of leading/trailing/repeated spaces, dummy-prefix space, spaces
    /// escaped as U+2581. `charsmap` nil means identity rules.
    static func sentencePieceNormalize(_ text: String, charsmap: PrecompiledCharsMap?, addDummyPrefix: Bool,
                                       removeExtraWhitespaces: Bool, escapeWhitespaces: Bool) -> String {
        let input = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(input.count + 8)
        let space: [UInt8] = escapeWhitespaces ? [0xE2, 0x96, 0x81] : [0x20]
        return input.withUnsafeBufferPointer { buf -> String in
            // One rule application at `pos`: (replacement bytes, consumed).
            func prefix(_ pos: Int) -> (ArraySlice<UInt8>, Int) {
                let rest = UnsafeBufferPointer(rebasing: buf[pos...])
                if let cm = charsmap, let m = cm.longestMatch(rest) { return m }
                let n = utf8Length(buf[pos])
                let len = min(n, buf.count - pos)
                return (Array(buf[pos..<(pos + len)])[...], len)
            }
            var pos = 0
            if removeExtraWhitespaces {
                while pos < buf.count {
                    let (r, c) = prefix(pos)
                    if !(r.count == 1 && r.first == 0x20) { break }
                    pos += c
                }
            }
            if pos >= buf.count { return "" }
            if addDummyPrefix { out.append(contentsOf: space) }
            var isPrevSpace = removeExtraWhitespaces
            while pos < buf.count {
                let (r, c) = prefix(pos)
                var sp = r[...]
                while isPrevSpace, sp.first == 0x20 { sp = sp.dropFirst() }
                if !sp.isEmpty {
                    for b in sp {
                        if b == 0x20 { out.append(contentsOf: space) } else { out.append(b) }
                    }
                    isPrevSpace = sp.last == 0x20
                }
                pos += c
                if !removeExtraWhitespaces { isPrevSpace = false }
            }
            if removeExtraWhitespaces {
                while out.count >= space.count && out.suffix(space.count).elementsEqual(space) {
                    out.removeLast(space.count)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Hugging Face `Precompiled` normalizer: per extended grapheme cluster; a cluster shorter than
    /// 6 UTF-8 bytes that starts with a rule is replaced whole by the shortest rule's output,
    /// otherwise each scalar is replaced by its own rule or kept.
    func transformersNormalize(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 8)
        for ch in text {
            if let a = ch.asciiValue, ch.utf8.count == 1 {  // single ASCII scalar: table lookup
                if let r = asciiRules[Int(a)] { out.append(contentsOf: r) } else { out.append(a) }
                continue
            }
            var g = Array(String(ch).utf8)
            let done: Bool = g.withUnsafeMutableBufferPointer { gb in
                let b = UnsafeBufferPointer(gb)
                if b.count < 6, let r = shortestMatchReplacement(b) { out.append(contentsOf: r); return true }
                return false
            }
            if done { continue }
            for sc in ch.unicodeScalars {
                g = Array(String(sc).utf8)
                g.withUnsafeBufferPointer { b in
                    if let r = shortestMatchReplacement(b) { out.append(contentsOf: r) } else { out.append(contentsOf: b) }
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Length of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes).
@inline(__always) func utf8Length(_ lead: UInt8) -> Int {
    if lead < 0x80 { return 1 }
    if lead >> 5 == 0b110 { return 2 }
    if lead >> 4 == 0b1110 { return 3 }
    if lead >> 3 == 0b11110 { return 4 }
    return 1
}
