import XCTest
import Foundation
import Tensor

/// Reductions and softmax against PyTorch fixtures (Fixtures/ops/reduction.json).
/// Tolerance: sum/mean/max/min |a - e| <= 1e-6 + 1e-5 |e|; softmax 1e-7 + 1e-5 |e| (f32).
final class ReductionTests: XCTestCase {
    let rtol: Float = 1e-5, atol: Float = 1e-6

    /// sum, mean, amax, amin over every subset of dims of a (3, 4, 5) tensor, with and without keepDims.
    func testReductionsOverDimSetsMatchTorch() throws {
        let fx = try ElemFixture("reduction")
        var checked = 0
        for (name, _) in fx.cases where ["sum_", "mean_", "max_", "min_"].contains(where: name.hasPrefix) && fx.entry(name)["dims"] != nil {
            let x = fx.input(name, "x")
            let dims = fx.ints(name, "dims"), keep = fx.bool(name, "keep")
            let r: Tensor
            switch fx.entry(name)["op"] as! String {
            case "sum": r = x.sum(dims: dims, keepDims: keep)
            case "mean": r = x.mean(dims: dims, keepDims: keep)
            case "max": r = x.max(dims: dims, keepDims: keep)
            default: r = x.min(dims: dims, keepDims: keep)
            }
            elemAssertClose(r, fx.output(name), rtol: rtol, atol: atol, name)
            checked += 1
        }
        XCTAssertEqual(checked, 48)
        // Negative dims and the all-dims default.
        let x = fx.input("sum_2", "x")
        XCTAssertEqual(x.sum(dims: [-1]).floats(), x.sum(dim: 2).floats())
        XCTAssertEqual(x.sum().shape, [])
        elemAssertClose(x.sum(), fx.output("sum_012"), rtol: rtol, atol: atol, "sum all")
        elemAssertClose(x.max(dims: [2, 0]), fx.output("max_02"), rtol: 0, atol: 0, "max unsorted dims")
    }

    /// Reductions of permuted, sliced, expanded and bf16 inputs.
    func testReductionsOfViewsMatchTorch() throws {
        let fx = try ElemFixture("reduction")
        let x = fx.input("sum_permuted_02", "x")   // (3, 4, 5)
        elemAssertClose(x.permuted(2, 0, 1).sum(dims: [0, 2]), fx.output("sum_permuted_02"), rtol: rtol, atol: atol, "permuted")
        let s = x.slice(dim: 1, start: 0, step: 2).slice(dim: 2, start: 1)
        XCTAssertFalse(s.isContiguous)
        elemAssertClose(s.mean(dim: 1), fx.output("mean_sliced_1"), rtol: rtol, atol: atol, "sliced")
        let v = fx.input("max_expanded_01", "x").expanded([4, 3, 6])
        elemAssertClose(v.max(dims: [0, 1]), fx.output("max_expanded_01"), rtol: 0, atol: 0, "expanded")
        elemAssertClose(x.to(.bf16).sum(dim: 1), fx.output("sum_bf16_1"), rtol: rtol, atol: atol, "bf16")
    }

    /// Long sums stay accurate: a mean over 4M values (contiguous, along dim 0 of (2^21, 2), and a
    /// strided view) within 1e-6 relative of a double-precision reference. A naive f32 running sum
    /// of these values is off by ~1e-3 relative.
    func testLongSumsAreAccurate() {
        let n = 1 << 22
        let vals = (0..<n).map { Float(0.1) + Float($0 % 1000) * 1e-4 }
        var exact = 0.0
        for v in vals { exact += Double(v) }
        let x = Tensor(vals, shape: [n])
        let mean = Double(x.mean().floats()[0]), sum = Double(x.sum().floats()[0])
        XCTAssertEqual(mean, exact / Double(n), accuracy: 1e-6 * exact / Double(n))
        XCTAssertEqual(sum, exact, accuracy: 1e-6 * exact)
        // Column reduction: (n/2, 2) summed over dim 0 -> two long strided sums.
        let cols = x.reshaped(n / 2, 2).sum(dim: 0).floats()
        var even = 0.0, odd = 0.0
        for i in 0..<n { if i % 2 == 0 { even += Double(vals[i]) } else { odd += Double(vals[i]) } }
        XCTAssertEqual(Double(cols[0]), even, accuracy: 1e-6 * even)
        XCTAssertEqual(Double(cols[1]), odd, accuracy: 1e-6 * odd)
        // The same as a strided (transposed) view reduced over its last dim.
        let t = x.reshaped(n / 2, 2).transposed().sum(dim: 1).floats()
        XCTAssertEqual(Double(t[0]), even, accuracy: 1e-6 * even)
        XCTAssertEqual(Double(t[1]), odd, accuracy: 1e-6 * odd)
        var naive: Float = 0
        for v in vals { naive += v }
        XCTAssertGreaterThan(Swift.abs(Double(naive) - exact) / exact, 1e-4, "the naive f32 sum really is inaccurate here")
    }

    /// NaN propagates through max/min like torch.amax; an empty sum is 0 and an empty mean NaN.
    func testNaNAndEmptyReductions() {
        let x = Tensor([1, .nan, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], shape: [12])
        XCTAssertTrue(x.max().floats()[0].isNaN)
        XCTAssertTrue(x.min().floats()[0].isNaN)
        XCTAssertEqual(x.slice(dim: 0, start: 2).max().floats(), [12])
        let m = x.reshaped(6, 2).max(dim: 0).floats()
        XCTAssertTrue(m[1].isNaN)
        XCTAssertEqual(m[0], 11)
        let e = Tensor.zeros([0, 3])
        XCTAssertEqual(e.sum(dim: 0).floats(), [0, 0, 0])
        XCTAssertTrue(e.mean(dim: 0).floats().allSatisfy { $0.isNaN })
    }

    /// Softmax along dims 0, 1, 2 and -1 of a (4, 6, 5) tensor offset by +50, of a permuted view, and of bf16 input.
    func testSoftmaxMatchesTorch() throws {
        let fx = try ElemFixture("reduction")
        for d in [0, 1, 2, -1] {
            let c = "softmax_\(d)"
            elemAssertClose(softmax(fx.input(c, "x"), dim: d), fx.output(c), rtol: 1e-5, atol: 1e-7, c)
        }
        let y = fx.input("softmax_permuted_last", "x")
        elemAssertClose(softmax(y.permuted(0, 2, 1), dim: -1), fx.output("softmax_permuted_last"), rtol: 1e-5, atol: 1e-7, "permuted")
        elemAssertClose(softmax(y.to(.bf16)), fx.output("softmax_bf16_last"), rtol: 1e-5, atol: 1e-7, "bf16")
    }

    /// Long rows (4096) with large values: each row sums to 1 and matches a double-precision softmax.
    func testSoftmaxLongRowsAgainstDouble() {
        let rows = 8, n = 4096
        let vals = (0..<(rows * n)).map { Float(($0 * 2654435761) % 100_003) * 1e-3 - 20 }
        let out = softmax(Tensor(vals, shape: [rows, n]), dim: 1).floats()
        for r in 0..<rows {
            let row = vals[(r * n)..<((r + 1) * n)].map(Double.init)
            let m = row.max()!
            let z = row.reduce(0) { $0 + Foundation.exp($1 - m) }
            var total = 0.0
            for i in 0..<n {
                let e = Foundation.exp(row[i] - m) / z
                XCTAssertEqual(Double(out[r * n + i]), e, accuracy: 1e-5 * e + 1e-12)
                total += Double(out[r * n + i])
            }
            XCTAssertEqual(total, 1, accuracy: 1e-5)
        }
    }
}
