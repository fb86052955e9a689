/// Byte-pair-encoding model (the `BPE` model of Hugging Face `tokenizers` with an end-of-word
/// suffix, as CLIP uses it): a vocabulary and ranked merges.
///
/// A word is split into its characters (the last one carrying `endOfWordSuffix`), then the adjacent
/// pair with the lowest merge rank is merged (leftmost first among equal ranks) until no pair has a
/// merge. This is the order of `tokenizers`' priority queue and of the reference Python `bpe()`.
final class BPEModel: Sendable {
    let vocab: [String: Int32]
    /// (left id << 32 | right id) -> (rank << 32 | merged id)
    private let merges: [UInt64: UInt64]
    let endOfWordSuffix: String
    let unknownID: Int32?

    /// `merges` are pairs of vocabulary strings in rank order. Throws `malformed` (naming `mergesPath`)
    /// when a merge names a symbol, or produces a string, that is not in the vocabulary.
    init(vocab: [String: Int32], merges: [(String, String)], endOfWordSuffix: String, unknownToken: String?,
         mergesPath: String) throws {
        self.vocab = vocab
        self.endOfWordSuffix = endOfWordSuffix
        unknownID = unknownToken.flatMap { vocab[$0] }
        var table = [UInt64: UInt64](minimumCapacity: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b] else {
                throw TokenizerError.malformed(path: mergesPath, reason: "merge \(rank + 1) '\(a) \(b)' uses a symbol missing from the vocabulary")
            }
            guard let m = vocab[a + b] else {
                throw TokenizerError.malformed(path: mergesPath, reason: "merge \(rank + 1) '\(a) \(b)' produces '\(a + b)', missing from the vocabulary")
            }
            let key = UInt64(UInt32(bitPattern: ia)) << 32 | UInt64(UInt32(bitPattern: ib))
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m)) }
        }
        self.merges = table
    }

    /// Ids of one pre-tokenized word (already mapped to byte-level symbols).
    func merge(_ word: String) -> [Int32] {
        // Initial symbols: one per character, the suffix on the last; unknown characters become
        // the unknown id (consecutive unknowns are not fused, as CLIP's fuse_unk=false).
        var symbols: [Int32] = []
        let chars = Array(word.unicodeScalars)
        symbols.reserveCapacity(chars.count)
        for (i, ch) in chars.enumerated() {
            let s = i == chars.count - 1 ? String(ch) + endOfWordSuffix : String(ch)
            if let id = vocab[s] { symbols.append(id) } else if let u = unknownID { symbols.append(u) }
        }
        while symbols.count > 1 {
            var bestRank = UInt64.max, bestAt = -1, bestID: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))
                if let m = merges[key], m >> 32 < bestRank {
                    bestRank = m >> 32; bestAt = i; bestID = Int32(bitPattern: UInt32(truncatingIfNeeded: m))
                }
            }
            if bestAt < 0 { break }
            symbols[bestAt] = bestID
            symbols.remove(at: bestAt + 1)
        }
        return symbols
    }
}
