import XCTest
import Foundation
@testable import Models
import Tensor

/// The rotary tables: made once per (column, position) they must equal the per-token float64 formula
/// bit for bit, and the model's cache makes each token layout once.
final class FluxRoPETests: XCTestCase {
    /// The tables as both references compute them: per token, per axis, per frequency.
    func direct(_ ids: [[Int]], axesDims: [Int], theta: Double) -> (cos: [Float], sin: [Float]) {
        let half = axesDims.reduce(0, +) / 2
        var c = [Float](repeating: 0, count: ids.count * half), s = c
        for (t, pos) in ids.enumerated() {
            var k = 0
            for (axis, d) in axesDims.enumerated() {
                for j in 0..<(d / 2) {
                    let angle = Double(pos[axis]) * (1.0 / pow(theta, Double(2 * j) / Double(d)))
                    c[t * half + k] = Float(cos(angle))
                    s[t * half + k] = Float(sin(angle))
                    k += 1
                }
            }
        }
        return (c, s)
    }

    func testTablesEqualThePerTokenFormulaBitForBit() {
        let layouts = [FluxRoPE.Layout(textTokens: 512, height: 64, width: 64),
                       FluxRoPE.Layout(textTokens: 7, height: 3, width: 5, referenceHeight: 4, referenceWidth: 2)]
        for layout in layouts {
            let ids = layout.ids
            let rope = FluxRoPE(ids: ids, axesDims: [16, 56, 56], theta: 10_000)
            let want = direct(ids, axesDims: [16, 56, 56], theta: 10_000)
            XCTAssertEqual(rope.cosines.shape, [ids.count, 64])
            XCTAssertEqual(rope.cosines.floats().map(\.bitPattern), want.cos.map(\.bitPattern), "cos, \(layout)")
            XCTAssertEqual(rope.sines.floats().map(\.bitPattern), want.sin.map(\.bitPattern), "sin, \(layout)")
        }
        // Kontext's reference tokens sit on axis 0 = 1.
        XCTAssertEqual(layouts[1].ids.last, [1, 3, 1])
        // Negative positions take the per-token path and agree too.
        let odd = [[0, -3, 2], [1, 5, -1]]
        let rope = FluxRoPE(ids: odd, axesDims: [4, 6, 6], theta: 10_000)
        XCTAssertEqual(rope.cosines.floats().map(\.bitPattern), direct(odd, axesDims: [4, 6, 6], theta: 10_000).cos.map(\.bitPattern))
    }

    func testTheCacheMakesEachLayoutOnceAndKeepsTheLatest() {
        let cache = FluxRoPECache()
        var made = 0
        func get(_ h: Int) -> FluxRoPE {
            cache.table(FluxRoPE.Layout(textTokens: 2, height: h, width: 2)) {
                made += 1
                return FluxRoPE(ids: FluxRoPE.Layout(textTokens: 2, height: h, width: 2).ids, axesDims: [2, 2, 2], theta: 10_000)
            }
        }
        let first = get(2)
        XCTAssertEqual(get(2).cosines.shape, first.cosines.shape)
        XCTAssertEqual(made, 1, "the same layout again is not made again")
        for h in 3...(FluxRoPECache.kept + 2) { _ = get(h) }
        XCTAssertEqual(cache.count, FluxRoPECache.kept)
        let before = made
        _ = get(2)
        XCTAssertEqual(made, before + 1, "the oldest layout was dropped")
        _ = get(FluxRoPECache.kept + 2)
        XCTAssertEqual(made, before + 1, "the newest is still kept")
    }
}
