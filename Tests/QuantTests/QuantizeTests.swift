import Foundation
import XCTest
import Tensor
import Quant

/// Scales, fp8/int8/int4 quantisation and the quantized Linear against PyTorch (quant_cases.json).
final class QuantizeTests: XCTestCase {
    struct Cases {
        let rows: Int, cols: Int, m: Int
        let w: [Float], x: [Float], bias: [Float]
        let cases: [[String: Any]]
    }

    // unchecked: a constant parsed once (a static let initialises thread-safely) and only read after.
    nonisolated(unsafe) static let fixture: Cases? = {
        guard let j = try? Fixture.json("quant_cases") else { return nil }
        return Cases(rows: (j["rows"] as! NSNumber).intValue, cols: (j["cols"] as! NSNumber).intValue,
                     m: (j["m"] as! NSNumber).intValue, w: Fixture.floats(j["w"]), x: Fixture.floats(j["x"]),
                     bias: Fixture.floats(j["bias"]), cases: j["cases"] as! [[String: Any]])
    }()

    private func cases() throws -> Cases {
        guard let f = Self.fixture else { throw XCTSkip("quant_cases.json missing") }
        return f
    }

    /// The fingerprint of Tools/make_quant_fixtures.py: sum(bits[i] * (2i + 1)) mod 2^64.
    static func bitsHash(_ v: [Float]) -> UInt64 {
        var h: UInt64 = 0
        for (i, f) in v.enumerated() { h &+= UInt64(f.bitPattern) &* UInt64(2 * i + 1) }
        return h
    }

    /// Codes and scales are bit-identical to PyTorch for fp8 e4m3fn / e5m2 (none, tensor, channel,
    /// block 32/64/128), int8 and int4 (tensor, channel, block 32/64/128), including a zero row, a zero
    /// block, outliers and a row needing subnormal fp8 codes. Dequantized weights are bit-identical too
    /// (checked by fingerprint). Tolerance: none.
    func testCodesScalesAndDequantMatchTorch() throws {
        let f = try cases()
        let w = Tensor(f.w, shape: [f.rows, f.cols])
        XCTAssertEqual(f.cases.count, 22)
        for c in f.cases {
            let fmt = QuantFormat(rawValue: c["format"] as! String)!
            let gran = try ScaleGranularity(parsing: c["scale"] as! String)
            let label = "\(fmt) \(gran)"
            let q = try QuantizedWeight.quantize(w, format: fmt, granularity: gran)
            XCTAssertTrue(q.data.hostBytes() == Fixture.bytes(c["data"]), "\(label): codes differ")
            if let s = c["scales"] as? String {
                XCTAssertEqual(q.scales?.floats().map(\.bitPattern), Fixture.floats(s).map(\.bitPattern), "\(label): scales")
            } else {
                XCTAssertNil(q.scales, label)
            }
            let deq = q.dequantized().floats()
            XCTAssertEqual(String(Self.bitsHash(deq)), c["dequant_hash"] as? String, "\(label): dequantized weight")
            // The same from bf16 storage of a bf16-exact copy of W equals quantizing that copy in f32.
            let wb = w.to(.bf16)
            let qb = try QuantizedWeight.quantize(wb, format: fmt, granularity: gran)
            let qf = try QuantizedWeight.quantize(wb.to(.f32), format: fmt, granularity: gran)
            XCTAssertTrue(qb.data.hostBytes() == qf.data.hostBytes(), "\(label): bf16 input path")
        }
    }

    /// y = x · dequant(W)^T + b against PyTorch's float64 product of the same dequantized weight.
    /// Tolerance: |y - y_ref| <= 2e-5 * (sum_k |x_k| |w_k| + |b|) per output (f32 accumulation over K = 256).
    func testLinearMatchesTorch() throws {
        let f = try cases()
        let w = Tensor(f.w, shape: [f.rows, f.cols])
        let x = Tensor(f.x, shape: [f.m, f.cols])
        let bias = Tensor(f.bias, shape: [f.rows])
        for c in f.cases {
            let fmt = QuantFormat(rawValue: c["format"] as! String)!
            let gran = try ScaleGranularity(parsing: c["scale"] as! String)
            let q = try QuantizedWeight.quantize(w, format: fmt, granularity: gran)
            let deq = q.dequantized().floats()
            let want = Fixture.floats(c["y"])
            for panel in [1 << 30, 3 * f.cols * 4, 1] {  // one panel, 3-row panels, 1-row panels
                let lin = try QuantizedLinear(weight: q, bias: bias, panelBytes: panel)
                let y = lin(x).floats()
                for i in 0..<f.m {
                    for o in 0..<f.rows {
                        var mag = Swift.abs(f.bias[o])
                        for k in 0..<f.cols { mag += Swift.abs(f.x[i * f.cols + k] * deq[o * f.cols + k]) }
                        let err = Swift.abs(y[i * f.rows + o] - want[i * f.rows + o])
                        XCTAssertLessThanOrEqual(err, 2e-5 * mag, "\(fmt) \(gran) panel \(panel) y[\(i),\(o)]")
                    }
                }
            }
        }
    }

    /// bf16 numerics against PyTorch's bf16 `F.linear` of bf16(x), bf16(dequant(W)), bf16(b).
    /// Tolerance: one bf16 rounding step, |y - y_ref| <= 2^-7 |y_ref| + 2e-5 * (sum_k |x_k w_k| + |b|)
    /// (the f32 sums differ only in accumulation order, which can move the bf16 rounding by one ulp).
    func testLinearBF16MatchesTorch() throws {
        let f = try cases()
        let w = Tensor(f.w, shape: [f.rows, f.cols])
        let x = Tensor(f.x, shape: [f.m, f.cols])
        let bias = Tensor(f.bias, shape: [f.rows])
        var exact = 0, total = 0
        for c in f.cases {
            let fmt = QuantFormat(rawValue: c["format"] as! String)!
            let gran = try ScaleGranularity(parsing: c["scale"] as! String)
            let q = try QuantizedWeight.quantize(w, format: fmt, granularity: gran)
            var lin = try QuantizedLinear(weight: q, bias: bias)
            lin.precision = .bf16
            let yt = lin(x)
            XCTAssertEqual(yt.dtype, .bf16)
            let y = yt.floats(), want = Fixture.floats(c["y_bf16"])
            let deq = q.dequantized().floats()
            for i in 0..<f.m {
                for o in 0..<f.rows {
                    var mag = Swift.abs(f.bias[o])
                    for k in 0..<f.cols { mag += Swift.abs(f.x[i * f.cols + k] * deq[o * f.cols + k]) }
                    let r = want[i * f.rows + o], err = Swift.abs(y[i * f.rows + o] - r)
                    XCTAssertLessThanOrEqual(err, 0x1p-7 * Swift.abs(r) + 2e-5 * mag, "\(fmt) \(gran) y[\(i),\(o)]")
                    exact += err == 0 ? 1 : 0
                    total += 1
                }
            }
        }
        print("bf16 Linear: \(exact) of \(total) outputs bit-identical to torch")
        XCTAssertGreaterThan(Double(exact) / Double(total), 0.8)
    }

    /// Batched input (2, 2, K) in bf16, no bias, and an unquantized bf16 weight through the same layer.
    /// Reference: a float64 product computed here. Tolerance as in testLinearMatchesTorch.
    func testLinearBatchedAndPlainWeights() throws {
        let f = try cases()
        let w = Tensor(f.w, shape: [f.rows, f.cols])
        let x = Tensor(f.x[0..<(4 * f.cols)].map { $0 * 0.5 }, shape: [2, 2, f.cols]).to(.bf16)
        let xs = x.floats()
        for weight in [try QuantizedWeight.quantize(w, format: .int4, granularity: .block(64)),
                       try QuantizedWeight(plain: w.to(.bf16)), try QuantizedWeight(plain: w),
                       try QuantizedWeight(plain: w.to(.f8e4m3fn))] {
            let deq = weight.dequantized().floats()
            let y = try QuantizedLinear(weight: weight, panelBytes: 5 * f.cols * 4)(x)
            XCTAssertEqual(y.shape, [2, 2, f.rows])
            XCTAssertEqual(y.dtype, .f32)
            let yv = y.floats()
            for i in 0..<4 {
                for o in 0..<f.rows {
                    var ref = 0.0, mag: Float = 0
                    for k in 0..<f.cols {
                        ref += Double(xs[i * f.cols + k]) * Double(deq[o * f.cols + k])
                        mag += Swift.abs(xs[i * f.cols + k] * deq[o * f.cols + k])
                    }
                    XCTAssertLessThanOrEqual(Swift.abs(yv[i * f.rows + o] - Float(ref)), 2e-5 * mag, "\(weight.format) y[\(i),\(o)]")
                }
            }
        }
        // Plain bf16 weights dequantize to exactly their f32 values.
        XCTAssertEqual(try QuantizedWeight(plain: w.to(.bf16)).dequantized().floats(), w.to(.bf16).floats())
    }

    /// int4 with an odd column count and a short last block, checked against a direct scalar evaluation
    /// of the formulas (scale = absmax / 7 per block of 4, q = clamp(round_half_even(w / s), -8, 7)).
    func testInt4OddColumnsAndPartialBlocks() throws {
        let rows = 3, cols = 7
        let vals: [Float] = [0.5, -1.25, 3.0, 0.1, -0.7, 2.2, -9.0,
                             0, 0, 0, 0, 1e-3, -2e-3, 0,
                             7, -7, 3.5, -3.5, 0.5, 1.5, 2.5]
        let q = try QuantizedWeight.quantize(Tensor(vals, shape: [rows, cols]), format: .int4, granularity: .block(4))
        XCTAssertEqual(q.data.shape, [3, 4])
        XCTAssertEqual(q.scales?.shape, [3, 2])
        let deq = q.dequantized().floats()
        for r in 0..<rows {
            for b in 0..<2 {
                let span = (b * 4)..<min(cols, b * 4 + 4)
                let amax = span.map { Swift.abs(vals[r * cols + $0]) }.max()!
                let s: Float = amax > 0 ? amax / 7 : 1
                for c in span {
                    let qv = min(7, max(-8, (vals[r * cols + c] / s).rounded(.toNearestOrEven)))
                    XCTAssertEqual(deq[r * cols + c], qv * s, "(\(r), \(c))")
                }
            }
        }
        // Row 2 block 0 has amax 7 -> scale 1: exact values; 3.5 and -3.5 tie to even (4 and -4).
        XCTAssertEqual(Array(deq[14..<18]), [7, -7, 4, -4])
    }

    /// Errors for bad parameters are thrown, not crashes.
    func testInvalidArgumentsThrow() {
        let w = Tensor([Float](repeating: 1, count: 8), shape: [2, 4])
        XCTAssertThrowsError(try QuantizedWeight.quantize(w, format: .int4, granularity: .none))
        XCTAssertThrowsError(try QuantizedWeight.quantize(w, format: .int8, granularity: .block(3)))
        XCTAssertThrowsError(try QuantizedWeight.quantize(Tensor([1, 2], shape: [2]), format: .int8, granularity: .tensor))
        XCTAssertThrowsError(try ScaleGranularity(parsing: "block:0"))
        XCTAssertThrowsError(try ScaleGranularity(parsing: "rows"))
        XCTAssertEqual(try ScaleGranularity(parsing: "block:64"), .block(64))
        XCTAssertThrowsError(try QuantizedWeight(format: .int8, granularity: .channel, rows: 2, columns: 4,
                                                 data: Tensor.zeros([2, 4], dtype: .i8), scales: Tensor([1], shape: [1])))
        XCTAssertThrowsError(try QuantizedLinear(weight: try QuantizedWeight(plain: w), bias: Tensor([1, 2, 3], shape: [3])))
    }

    /// The error report: zero for an exact format, counts overflow and NaN for an unscaled e4m3fn cast.
    func testQuantizationErrorReport() throws {
        let w = Tensor([1, 2, 500, -600, 0.25, 1e-4, 3, 4], shape: [2, 4])
        let exact = QuantizationError.measure(original: w, quantized: try QuantizedWeight(plain: w))
        XCTAssertEqual(exact.relativeError, 0)
        XCTAssertEqual(exact.maxAbsError, 0)
        let sat = QuantizationError.measure(original: w, quantized: try QuantizedWeight.quantize(w, format: .fp8e4m3fn, granularity: .none))
        XCTAssertEqual(sat.overflowCount, 2)
        XCTAssertEqual(sat.nanCount, 0)
        XCTAssertEqual(sat.maxAbsError, 152)  // -600 -> -448
        let nan = QuantizationError.measure(original: w, quantized: try QuantizedWeight.quantize(w, format: .fp8e4m3fn, granularity: .none, overflow: .nan))
        XCTAssertEqual(nan.nanCount, 2)
        let scaled = QuantizationError.measure(original: w, quantized: try QuantizedWeight.quantize(w, format: .fp8e4m3fn, granularity: .tensor))
        XCTAssertEqual(scaled.overflowCount, 0)
        XCTAssertLessThan(scaled.relativeError, 0.07)  // 3 mantissa bits: <= 2^-4 relative per element
    }
}
