import XCTest
import Tensor
@testable import Models

/// `BPEModel.mergeAll` (heap + linked list) against the plain rule it implements: repeatedly merge the
/// adjacent pair of lowest rank, the leftmost among equal ranks, until none has a merge.
final class BPEMergeTests: XCTestCase {
    /// The O(n^2) reference: rescan every pair after each merge.
    func reference(_ initial: [Int32], _ table: [UInt64: UInt64]) -> [Int32] {
        var symbols = initial
        while symbols.count > 1 {
            var bestRank = UInt64.max, bestAt = -1, bestID: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let m = table[UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))], m >> 32 < bestRank {
                    bestRank = m >> 32; bestAt = i; bestID = Int32(bitPattern: UInt32(truncatingIfNeeded: m))
                }
            }
            if bestAt < 0 { break }
            symbols[bestAt] = bestID
            symbols.remove(at: bestAt + 1)
        }
        return symbols
    }

    func testTheHeapMergesAsTheRescanDoesOnRandomWordsAndTables() {
        let rng = TorchGenerator(seed: 7)
        for trial in 0..<400 {
            // A small alphabet with merges between any symbols, new ids above; ranks unique per pair.
            let alphabet = Int32(2 + rng.nextUInt64() % 4)
            var table: [UInt64: UInt64] = [:]
            var nextID = alphabet, rank: UInt64 = 0
            for _ in 0..<(3 + rng.nextUInt64() % 20) {
                let a = Int32(rng.nextUInt64() % UInt64(nextID)), b = Int32(rng.nextUInt64() % UInt64(nextID))
                let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
                guard table[key] == nil else { continue }
                table[key] = rank << 32 | UInt64(UInt32(bitPattern: nextID))
                rank += 1
                nextID += 1
            }
            let word = (0..<Int(rng.nextUInt64() % 40)).map { _ in Int32(rng.nextUInt64() % UInt64(alphabet)) }
            let got = BPEModel.mergeAll(word) { a, b in table[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))] }
            XCTAssertEqual(got, reference(word, table), "trial \(trial): word \(word)")
        }
    }

    /// One long pre-token (a run of emoji has no spaces): linear-ish, not quadratic.
    func testALongWordMergesQuickly() {
        let table: [UInt64: UInt64] = [0 << 32 | 0: 0 << 32 | 1, 1 << 32 | 1: 1 << 32 | 2]
        let start = ContinuousClock.now
        let out = BPEModel.mergeAll([Int32](repeating: 0, count: 200_000)) { a, b in table[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] }
        XCTAssertEqual(out, [Int32](repeating: 2, count: 50_000))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "200,000 symbols")
    }
}
