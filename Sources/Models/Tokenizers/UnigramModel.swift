/// SentencePiece unigram language model: best segmentation of a string into vocabulary pieces by
/// Viterbi over the piece lattice (the "optimized" forward pass of SentencePiece and of Hugging Face
/// `tokenizers`, which pick the same path: ties keep the earlier start).
// unchecked: `edges`/`terminal` are `var` only so init can build the trie (`insert` is called from init alone); after init every field is only read.
final class UnigramModel: @unchecked Sendable {
    let pieces: [String]
    private let scores: [Double]
    /// Byte trie over the matchable pieces: edge key (node << 8 | byte) -> child node.
    private var edges: [UInt64: Int32] = [:]
    /// Piece id ending at a trie node, or -1.
    private var terminal: [Int32] = [-1]
    let unknownID: Int32
    private let unknownScore: Double
    /// Scores summed in Float32 (SentencePiece) instead of Double (`tokenizers`).
    private let float32Sums: Bool
    /// `<0xXX>` piece ids when byte fallback is on.
    private let byteIDs: [Int32]?
    private let pieceIDs: [String: Int32]

    /// - Parameters:
    ///   - matchable: which pieces may appear in a segmentation (SentencePiece: NORMAL and
    ///     USER_DEFINED; `tokenizers`: every vocabulary entry).
    ///   - minScoreOf: which pieces count for the minimum score that sets the unknown score
    ///     (min - 10).
    init(pieces: [String], scores: [Double], unknownID: Int32, byteFallback: Bool, float32Sums: Bool,
         matchable: (Int) -> Bool, minScoreOf: (Int) -> Bool) {
        self.pieces = pieces
        self.scores = scores
        self.unknownID = unknownID
        self.float32Sums = float32Sums
        var minScore = Double.infinity
        for i in pieces.indices where minScoreOf(i) { minScore = min(minScore, scores[i]) }
        if minScore == .infinity { minScore = 0 }
        unknownScore = float32Sums ? Double(Float(minScore) - 10) : minScore - 10
        var ids = [String: Int32](minimumCapacity: pieces.count)
        for (i, p) in pieces.enumerated() { ids[p] = Int32(i) }  // later duplicates win, as in tokenizers
        pieceIDs = ids
        if byteFallback {
            var table = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                let hex = String(b, radix: 16, uppercase: true)
                if let id = ids["<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"] { table[b] = id }
            }
            byteIDs = table
        } else {
            byteIDs = nil
        }
        for (i, p) in pieces.enumerated() where matchable(i) && !p.isEmpty { insert(p, id: Int32(i)) }
    }

    private func insert(_ piece: String, id: Int32) {
        var node: Int32 = 0
        for b in piece.utf8 {
            let key = UInt64(UInt32(node)) << 8 | UInt64(b)
            if let next = edges[key] { node = next } else {
                let next = Int32(terminal.count)
                terminal.append(-1)
                edges[key] = next
                node = next
            }
        }
        if terminal[Int(node)] < 0 { terminal[Int(node)] = id }
    }

    /// Appends the ids of the best segmentation of `text` to `out`. Consecutive unknown pieces are
    /// fused into one; with byte fallback an unknown span becomes its UTF-8 byte pieces.
    func encode(_ text: String, into out: inout [Int32]) {
        let bytes = Array(text.utf8)
        let n = bytes.count
        if n == 0 { return }
        var bestScore = [Double](repeating: 0, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        var bestID = [Int32](repeating: 0, count: n + 1)
        bestStart[0] = 0
        var pos = 0
        while pos < n {
            let base = bestScore[pos]
            let charLen = min(utf8Length(bytes[pos]), n - pos)
            var hasSingle = false
            var node: Int32 = 0
            var k = pos
            while k < n, let next = edges[UInt64(UInt32(node)) << 8 | UInt64(bytes[k])] {
                node = next
                k += 1
                let id = terminal[Int(node)]
                if id >= 0 {
                    var cand = base + scores[Int(id)]
                    if float32Sums { cand = Double(Float(cand)) }
                    if bestStart[k] < 0 || cand > bestScore[k] { bestScore[k] = cand; bestStart[k] = pos; bestID[k] = id }
                    if k - pos == charLen { hasSingle = true }
                }
            }
            if !hasSingle {
                let e = pos + charLen
                var cand = base + unknownScore
                if float32Sums { cand = Double(Float(cand)) }
                if bestStart[e] < 0 || cand > bestScore[e] { bestScore[e] = cand; bestStart[e] = pos; bestID[e] = unknownID }
            }
            pos += charLen
        }
        // Backtrack, then emit in order, fusing unknown runs.
        var spans: [(start: Int, end: Int, id: Int32)] = []
        var e = n
        while e > 0 {
            let s = bestStart[e]
            spans.append((s, e, bestID[e]))
            e = s
        }
        var i = spans.count - 1
        while i >= 0 {
            let span = spans[i]
            if span.id != unknownID { out.append(span.id); i -= 1; continue }
            var end = span.end
            i -= 1
            while i >= 0 && spans[i].id == unknownID { end = spans[i].end; i -= 1 }
            if let byteIDs, bytes[span.start..<end].allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                for b in bytes[span.start..<end] { out.append(byteIDs[Int(b)]) }
            } else {
                out.append(unknownID)
            }
        }
    }

    /// Id of an exact piece string.
    func id(of piece: String) -> Int32? { pieceIDs[piece] }
}
