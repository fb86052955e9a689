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
        return Self.mergeAll(symbols) { a, b in
            merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
        }
    }

    /// Merges `symbols` (lowest rank first, leftmost among equal ranks) with a min-heap of candidate
    /// pairs keyed (rank, position) over a linked list of the symbols, as `tokenizers` does: O(n log n)
    /// for a word of n symbols, where rescanning every pair after each merge took O(n^2) (a 10,000-emoji
    /// prompt is one pre-token: 27 s). A popped pair still stands when the pair now at its position has
    /// its rank (ranks are unique per pair; symbols only grow).
    /// `merge(a, b)`: (rank << 32 | merged id) of a pair, or nil.
    static func mergeAll(_ initial: [Int32], merge: (Int32, Int32) -> UInt64?) -> [Int32] {
        var symbols = initial
        let n = symbols.count
        guard n > 1 else { return symbols }
        var next = Array(1...n), prev = Array(-1..<(n - 1))   // next == n: none; prev == -1: none
        var heap: [UInt64] = []
        heap.reserveCapacity(n)
        func push(_ rank: UInt64, _ pos: Int) {
            heap.append(rank << 32 | UInt64(pos))
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard heap[i] < heap[parent] else { break }
                heap.swapAt(i, parent)
                i = parent
            }
        }
        func pop() -> UInt64? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && heap[l] < heap[m] { m = l }
                    if r < heap.count && heap[r] < heap[m] { m = r }
                    if m == i { break }
                    heap.swapAt(i, m)
                    i = m
                }
            }
            return top
        }
        for i in 0..<(n - 1) {
            if let m = merge(symbols[i], symbols[i + 1]) { push(m >> 32, i) }
        }
        while let top = pop() {
            let i = Int(top & 0xFFFF_FFFF), rank = top >> 32
            let j = next[i]
            guard j < n, prev[i] != -2, let m = merge(symbols[i], symbols[j]), m >> 32 == rank else { continue }
            symbols[i] = Int32(bitPattern: UInt32(truncatingIfNeeded: m))
            // j leaves the list (marked dead with prev -2).
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            prev[j] = -2
            if prev[i] >= 0, let left = merge(symbols[prev[i]], symbols[i]) { push(left >> 32, prev[i]) }
            if next[i] < n, let right = merge(symbols[i], symbols[next[i]]) { push(right >> 32, i) }
        }
        var out: [Int32] = []
        var i = 0
        while i < n {
            out.append(symbols[i])
            i = next[i]
        }
        return out
    }
}
