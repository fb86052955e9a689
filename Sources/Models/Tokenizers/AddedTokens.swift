/// A token that is matched in the raw text before the model runs (Hugging Face "added tokens":
/// `<|endoftext|>`, `</s>`, `<extra_id_0>`, ...).
struct AddedToken {
    let content: String
    let id: Int32
    /// Matched in the normalized text (true) or the raw text (false).
    let normalized: Bool
    /// Also swallows the whitespace on its left / right.
    let lstrip: Bool
    let rstrip: Bool
}

/// One piece of the input after added tokens have been taken out.
enum TextSegment {
    /// An added token.
    case token(Int32)
    /// Text still to be tokenized; `atStart` tells whether it begins at offset 0 of the input.
    case text(String, atStart: Bool)
}

/// Splits text on added tokens the way `tokenizers`' `AddedVocabulary` does: leftmost match,
/// longest token among those starting there; `lstrip`/`rstrip` extend the match over whitespace.
struct AddedTokenSplitter {
    private let tokens: [(bytes: [UInt8], token: AddedToken)]
    private var firstBytes = [Bool](repeating: false, count: 256)

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens.map { (Array($0.content.utf8), $0) }.filter { !$0.0.isEmpty }
        for t in self.tokens { firstBytes[Int(t.bytes[0])] = true }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `text` (a `.text` segment); other segments pass through unchanged.
    func split(_ segments: [TextSegment]) -> [TextSegment] {
        if tokens.isEmpty { return segments }
        var out: [TextSegment] = []
        for seg in segments {
            guard case .text(let text, let atStart) = seg else { out.append(seg); continue }
            split(text, atStart: atStart, into: &out)
        }
        return out
    }

    private func split(_ text: String, atStart: Bool, into out: inout [TextSegment]) {
        let bytes = Array(text.utf8)
        var pieceStart = 0
        var i = 0
        while i < bytes.count {
            guard firstBytes[Int(bytes[i])] else { i += 1; continue }
            var best: (len: Int, token: AddedToken)? = nil
            for t in tokens where t.bytes.count <= bytes.count - i && (best == nil || t.bytes.count > best!.len) {
                if bytes[i..<(i + t.bytes.count)].elementsEqual(t.bytes) { best = (t.bytes.count, t.token) }
            }
            guard let m = best else { i += 1; continue }
            var start = i, stop = i + m.len
            if m.token.lstrip { start = Self.skipWhitespaceBackward(bytes, from: start, limit: pieceStart) }
            if m.token.rstrip { stop = Self.skipWhitespaceForward(bytes, from: stop) }
            if start > pieceStart {
                out.append(.text(String(decoding: bytes[pieceStart..<start], as: UTF8.self), atStart: atStart && pieceStart == 0))
            }
            out.append(.token(m.token.id))
            pieceStart = stop
            i = stop
        }
        if pieceStart < bytes.count {
            out.append(.text(String(decoding: bytes[pieceStart...], as: UTF8.self), atStart: atStart && pieceStart == 0))
        }
    }

    private static func skipWhitespaceBackward(_ b: [UInt8], from: Int, limit: Int) -> Int {
        var s = String(decoding: b[limit..<from], as: UTF8.self).unicodeScalars[...]
        var pos = from
        while let last = s.last, last.properties.isWhitespace { pos -= String(last).utf8.count; s = s.dropLast() }
        return pos
    }

    private static func skipWhitespaceForward(_ b: [UInt8], from: Int) -> Int {
        var pos = from
        for sc in String(decoding: b[from...], as: UTF8.self).unicodeScalars {
            guard sc.properties.isWhitespace else { break }
            pos += String(sc).utf8.count
        }
        return pos
    }
}
