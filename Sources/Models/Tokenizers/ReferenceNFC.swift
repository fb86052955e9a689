/// NFC as Hugging Face `tokenizers` computes it (CLIP's first normalizer).
///
/// `tokenizers` (0.23, what transformers 5 runs) normalizes with the crate
/// `unicode-normalization-alignments` 0.1.12, whose tables are Unicode 9.0.0 (`UNICODE_VERSION` in its
/// `tables.rs`). Swift's NFC follows the toolchain's newer Unicode (17 for Swift 6.3). The two differ
/// only on scalars assigned after Unicode 9: in the reference's tables they are unassigned, i.e.
/// combining class 0 with no decomposition and no composition, so they are never reordered
/// (`"o\u{30A}\u{1DF7}"` stays as it is) and never composed (`"\u{11935}\u{11930}"` is not U+11938).
/// Such a scalar is a starter that nothing combines with, so NFC never acts across it: the text is
/// cut at those scalars and each run is normalized on its own. Within a run every scalar is from
/// Unicode 9, and for those NFC is the same in every later version (Unicode's normalization
/// stability policy: assigned characters keep their decompositions and combining classes, and later
/// compositions are excluded), so Swift's NFC gives the reference's result there.
enum ReferenceNFC {
    /// The Unicode version of the reference's normalization tables.
    static let unicodeMajorVersion = 9

    /// Whether the reference's normalization tables know `c` (assigned in Unicode 9.0 or earlier,
    /// or unassigned in both versions).
    @inline(__always) static func isInReferenceTables(_ c: Unicode.Scalar) -> Bool {
        guard c.value >= 0x0300, let age = c.properties.age else { return true }  // below U+0300: Unicode 1.1 to 5.0
        return age.major <= unicodeMajorVersion
    }

    /// NFC of `text` with the reference's Unicode 9 tables.
    static func normalize(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { !isInReferenceTables($0) }) else { return swiftNFC(text) }
        var out = String.UnicodeScalarView()
        var run = String.UnicodeScalarView()
        for sc in text.unicodeScalars {
            if isInReferenceTables(sc) { run.append(sc); continue }
            if !run.isEmpty { out.append(contentsOf: swiftNFC(String(run)).unicodeScalars); run = .init() }
            out.append(sc)
        }
        if !run.isEmpty { out.append(contentsOf: swiftNFC(String(run)).unicodeScalars) }
        return String(out)
    }

    /// The standard library's NFC (`String._nfcCodeUnits`; FoundationEssentials has no
    /// `precomposedStringWithCanonicalMapping`) followed by a canonical-ordering pass.
    static func swiftNFC(_ text: String) -> String {
        canonicallyOrdered(String(decoding: text._nfcCodeUnits, as: UTF8.self))
    }

    /// Swift's `_nfcCodeUnits` can leave combining marks out of canonical order after expanding
    /// composition exclusions (e.g. Tibetan U+0F73 twice); NFC output is canonically ordered, so
    /// runs of non-starters are stably sorted by combining class here.
    static func canonicallyOrdered(_ s: String) -> String {
        var scalars = Array(s.unicodeScalars)
        var changed = false
        var i = 0
        while i < scalars.count {
            guard scalars[i].properties.canonicalCombiningClass.rawValue != 0 else { i += 1; continue }
            var j = i
            while j < scalars.count && scalars[j].properties.canonicalCombiningClass.rawValue != 0 { j += 1 }
            if j - i > 1 {
                let run = scalars[i..<j].enumerated().sorted {
                    let a = $0.element.properties.canonicalCombiningClass.rawValue
                    let b = $1.element.properties.canonicalCombiningClass.rawValue
                    return a != b ? a < b : $0.offset < $1.offset
                }.map(\.element)
                if !run.elementsEqual(scalars[i..<j]) { scalars.replaceSubrange(i..<j, with: run); changed = true }
            }
            i = j
        }
        return changed ? String(String.UnicodeScalarView(scalars)) : s
    }
}
