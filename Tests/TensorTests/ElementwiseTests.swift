import XCTest
import Foundation
import Tensor

/// Elementwise ops against PyTorch fixtures (Fixtures/ops/elementwise.json) and against
/// double-precision libm. Fixture tolerance unless stated: |a - e| <= 1e-6 + 1e-5 |e| (f32).
final class ElementwiseTests: XCTestCase {
    let rtol: Float = 1e-5, atol: Float = 1e-6

    /// Every unary function, through its public API spelling, on a 1389-point grid (dense sweep of
    /// [-12, 12], random values, tiny magnitudes, branch points, large tails).
    func testUnaryOpsMatchTorch() throws {
        let fx = try ElemFixture("elementwise")
        let api: [String: (Tensor) -> Tensor] = [
            "neg": { -$0 }, "exp": { $0.exp() }, "log": { $0.log() }, "sqrt": { $0.sqrt() }, "rsqrt": { $0.rsqrt() },
            "abs": { $0.abs() }, "square": { $0.square() }, "tanh": { $0.tanh() }, "sigmoid": { sigmoid($0) },
            "silu": { silu($0) }, "gelu": { gelu($0) }, "geluTanh": { gelu($0, approximate: .tanh) },
            "quickGelu": { quickGelu($0) }, "sin": { $0.sin() }, "cos": { $0.cos() }, "erf": { $0.erf() },
        ]
        XCTAssertEqual(Set(api.keys), Set(UnaryOp.allCases.map(\.rawValue)), "every UnaryOp is covered")
        for (name, f) in api {
            let c = "unary_" + name
            let x = fx.input(c, "x")
            elemAssertClose(f(x), fx.output(c), rtol: rtol, atol: atol, c)
            // The generic entry point gives the same bits.
            XCTAssertEqual(x.apply(UnaryOp(rawValue: name)!).floats(), f(x).floats(), c)
        }
    }

    /// Accuracy against double-precision libm on 400k points over [-30, 30] plus tiny magnitudes.
    /// Measured in f32 ulps of the exact value of the function at the f32 input; each function's
    /// bound is stated below, errors under the absolute floor are ignored (underflowing tails).
    /// Where PyTorch itself rounds an intermediate to f32 (1.702 x in quickGelu, u in the tanh GELU),
    /// the reference does the same rounding, so the bound measures our evaluation only.
    func testUnaryAccuracyAgainstDoubleLibm() {
        var xs: [Float] = (0..<400_000).map { -30 + 60 * Float($0) / 400_000 }
        xs += (0..<2000).map { Float(pow(10, -8 + Double($0) / 250)) }.flatMap { [$0, -$0] }
        let x = Tensor(xs, shape: [xs.count])
        func phi(_ v: Double) -> Double { 0.5 * Foundation.erfc(-v / 2.0.squareRoot()) }
        func uTanh(_ v: Double) -> Double {   // u as PyTorch forms it in f32
            let f = Float(v)
            return Double(0.7978845608028654 * (f + 0.044715 * f * f * f))
        }
        // (function, exact reference, max ulps, absolute floor)
        let checks: [(String, (Tensor) -> Tensor, (Double) -> Double, Double, Double)] = [
            ("exp", { $0.exp() }, { Foundation.exp($0) }, 1.5, 1e-30),
            ("tanh", { $0.tanh() }, { Foundation.tanh($0) }, 2, 1e-30),
            ("sigmoid", { sigmoid($0) }, { 1 / (1 + Foundation.exp(-$0)) }, 3, 1e-30),
            ("silu", { silu($0) }, { $0 / (1 + Foundation.exp(-$0)) }, 3, 1e-30),
            ("quickGelu", { quickGelu($0) }, { $0 / (1 + Foundation.exp(-Double(Float(1.702) * Float($0)))) }, 3, 1e-30),
            ("erf", { $0.erf() }, { Foundation.erf($0) }, 3, 1e-30),
            // Exact GELU: 1 + erf(z) for z in (-1, 0) costs a few bits (up to ~16 ulp = 1e-6 relative);
            // beyond |x| = 4 sqrt 2 the negative tail (< 5e-8) is flushed to 0, as in PyTorch.
            ("gelu", { gelu($0) }, { $0 * phi($0) }, 16, 5e-8),
            // Tanh GELU as x / (1 + e^-2u) in double (no cancellation) from PyTorch's f32 u.
            ("geluTanh", { gelu($0, approximate: .tanh) }, { v in v / (1 + Foundation.exp(-2 * uTanh(v))) }, 4, 1e-30),
        ]
        for (name, f, ref, maxUlps, floor) in checks {
            let got = f(x).floats()
            var worst = 0.0, at: Float = 0
            for i in 0..<xs.count {
                let r = ref(Double(xs[i]))
                let err = Swift.abs(Double(got[i]) - r)
                if err <= floor { continue }
                let ulp = Double(Float(Swift.abs(r)).ulp)
                if err / ulp > worst { worst = err / ulp; at = xs[i] }
            }
            print("accuracy \(name): max \(String(format: "%.2f", worst)) ulp at x = \(at)")
            XCTAssertLessThanOrEqual(worst, maxUlps, "\(name): \(worst) ulp at x = \(at)")
        }
        // Special values.
        let s = Tensor([.infinity, -.infinity, .nan, 100, -200], shape: [5])
        XCTAssertEqual(s.exp().floats().prefix(2), [.infinity, 0])
        XCTAssertTrue(s.exp().floats()[2].isNaN)
        XCTAssertEqual(s.exp().floats()[3], .infinity)
        XCTAssertEqual(s.exp().floats()[4], 0)
        XCTAssertEqual(s.tanh().floats().prefix(2), [1, -1])
        XCTAssertEqual(sigmoid(s).floats().prefix(2), [1, 0])
        XCTAssertEqual(s.erf().floats().prefix(2), [1, -1])
        XCTAssertTrue(silu(s).floats()[2].isNaN)
    }

    /// bf16 inputs are widened to f32 (torch sees the same bf16-rounded values); the result is f32.
    func testBF16InputsMatchTorch() throws {
        let fx = try ElemFixture("elementwise")
        let x = fx.input("silu_bf16", "x").to(.bf16)
        XCTAssertEqual(x.dtype, .bf16)
        elemAssertClose(silu(x), fx.output("silu_bf16"), rtol: rtol, atol: atol, "silu bf16")
        elemAssertClose(gelu(x, approximate: .tanh), fx.output("geluTanh_bf16"), rtol: rtol, atol: atol, "geluTanh bf16")
        let a = fx.input("add_bias_bf16", "a").to(.bf16), b = fx.input("add_bias_bf16", "b").to(.bf16)
        elemAssertClose(a + b, fx.output("add_bias_bf16"), rtol: rtol, atol: atol, "bf16 + bf16 row bias")
        // A bf16 bias broadcast over f32 rows: the bias is converted once and stays a stride-0 view.
        let af = fx.input("add_bias_bf16", "a").to(.bf16).to(.f32)
        elemAssertClose(af + b, fx.output("add_bias_bf16"), rtol: rtol, atol: atol, "f32 + bf16 row bias")
    }

    /// Permuted, sliced and transposed views go through the strided paths.
    func testNonContiguousUnaryInputs() throws {
        let fx = try ElemFixture("elementwise")
        let x = fx.input("silu_permuted", "x")   // (4, 6, 5)
        let p = x.permuted(2, 0, 1), s = x.slice(dim: 1, start: 1, step: 2), t = x.transposed(0, 2)
        XCTAssertFalse(p.isContiguous); XCTAssertFalse(s.isContiguous); XCTAssertFalse(t.isContiguous)
        elemAssertClose(silu(p), fx.output("silu_permuted"), rtol: rtol, atol: atol, "silu permuted")
        elemAssertClose(s.exp(), fx.output("exp_sliced"), rtol: rtol, atol: atol, "exp sliced")
        elemAssertClose(t.tanh(), fx.output("tanh_transposed"), rtol: rtol, atol: atol, "tanh transposed")
    }

    /// Broadcasting binary ops: (2,1,4) with (3,1), row bias, column scale, strided and sliced views.
    func testBinaryBroadcastingMatchesTorch() throws {
        let fx = try ElemFixture("elementwise")
        let ops: [String: (Tensor, Tensor) -> Tensor] = [
            "add": { $0 + $1 }, "sub": { $0 - $1 }, "mul": { $0 * $1 }, "div": { $0 / $1 },
            "maximum": { maximum($0, $1) }, "minimum": { minimum($0, $1) },
        ]
        for (name, f) in ops {
            let c = "binary_\(name)_bcast"
            let r = f(fx.input(c, "a"), fx.input(c, "b"))
            XCTAssertEqual(r.shape, [2, 3, 4])
            elemAssertClose(r, fx.output(c), rtol: rtol, atol: atol, c)
        }
        elemAssertClose(fx.input("add_row_bias", "a") + fx.input("add_row_bias", "b"), fx.output("add_row_bias"),
                        rtol: rtol, atol: atol, "row bias")
        elemAssertClose(fx.input("mul_col_scale", "a") * fx.input("mul_col_scale", "b"), fx.output("mul_col_scale"),
                        rtol: rtol, atol: atol, "column scale")
        let a3 = fx.input("add_strided", "a"), b3 = fx.input("add_strided", "b")   // (4,3,5), (5,3)
        elemAssertClose(a3.permuted(2, 1, 0) + b3.unsqueezed(2), fx.output("add_strided"),
                        rtol: rtol, atol: atol, "permuted + unsqueezed")
        elemAssertClose(a3.slice(dim: 2, start: 0, step: 2) - b3.slice(dim: 0, start: 0, step: 2).select(dim: 1, index: 1),
                        fx.output("sub_sliced"), rtol: rtol, atol: atol, "sliced - strided vector")
        elemAssertClose(fx.input("pow", "a").pow(fx.input("pow", "b")), fx.output("pow"), rtol: rtol, atol: atol, "pow")
        elemAssertClose(fx.input("pow_scalar", "a").pow(Float(fx.double("pow_scalar", "exponent"))),
                        fx.output("pow_scalar"), rtol: rtol, atol: atol, "pow scalar")
    }

    /// Scalar arithmetic: ((s * 1.5 + 0.25) - 3) / 0.7, 2 / s, 1 - s, and x.pow(2) == x * x.
    func testScalarArithmeticMatchesTorch() throws {
        let fx = try ElemFixture("elementwise")
        let s = fx.input("scalar_ops", "x")
        elemAssertClose(((s * 1.5 + 0.25) - 3.0) / 0.7, fx.output("scalar_ops"), rtol: rtol, atol: atol, "chain")
        elemAssertClose(2.0 / s, fx.output("scalar_ops", "output_rdiv"), rtol: rtol, atol: atol, "2 / s")
        elemAssertClose(1.0 - s, fx.output("scalar_ops", "output_rsub"), rtol: rtol, atol: atol, "1 - s")
        XCTAssertEqual(s.pow(2).floats(), (s * s).floats())
        var acc = s
        acc += s
        acc *= 0.5
        XCTAssertEqual(acc.floats(), s.floats(), "(s + s) * 0.5 == s exactly")
    }

    /// 0-d tensors, empty tensors, and the f32 result dtype.
    func testEdgeShapes() {
        let r = Tensor.scalar(2) * Tensor.scalar(3)
        XCTAssertEqual(r.shape, [])
        XCTAssertEqual(r.floats(), [6])
        let e = Tensor.zeros([0, 3]) + Tensor([1, 2, 3], shape: [3])
        XCTAssertEqual(e.shape, [0, 3])
        XCTAssertEqual(silu(Tensor.zeros([2, 0])).shape, [2, 0])
        XCTAssertEqual(silu(Tensor.zeros([3], dtype: .f16)).dtype, .f32)
        // Scalar broadcast against a matrix, both ways round.
        let m = Tensor([1, 2, 3, 4], shape: [2, 2])
        XCTAssertEqual((Tensor.scalar(10) - m).floats(), [9, 8, 7, 6])
        XCTAssertEqual((m - Tensor.scalar(10)).floats(), [-9, -8, -7, -6])
    }

    /// Rough release-mode throughput on this machine (printed; the assertions check the results).
    func testThroughputSiluAndLayerNorm() {
        let n = 1 << 24
        let x = Tensor((0..<n).map { Float($0 % 4001) * 0.005 - 10 }, shape: [4096, 4096])
        _ = silu(x)
        var best = Double.infinity
        var y = x
        for _ in 0..<3 {
            let t0 = Date()
            y = silu(x)
            best = Swift.min(best, Date().timeIntervalSince(t0))
        }
        print(String(format: "throughput: silu over 16M f32: %.1f ms (%.0f Melem/s, %d threads)",
                     best * 1e3, Double(n) / best / 1e6, CPUBackend.shared.configuration.threads))
        let yv = y.floats()
        for i in stride(from: 0, to: n, by: 9973) {
            let v = Double(Float(i % 4001) * 0.005 - 10)
            XCTAssertEqual(Double(yv[i]), v / (1 + Foundation.exp(-v)), accuracy: 1e-5)
        }

        let rows = 4608, d = 3072
        let h = Tensor((0..<(rows * d)).map { Float(($0 * 7919) % 1013) * 0.01 - 5 }, shape: [rows, d])
        _ = layerNorm(h, eps: 1e-6)
        best = .infinity
        var ln = h
        for _ in 0..<3 {
            let t0 = Date()
            ln = layerNorm(h, eps: 1e-6)
            best = Swift.min(best, Date().timeIntervalSince(t0))
        }
        print(String(format: "throughput: layerNorm (4608, 3072) f32: %.1f ms (%.0f Melem/s)",
                     best * 1e3, Double(rows * d) / best / 1e6))
        // Every row of a LayerNorm output has mean ~0 and variance ~1.
        let m = ln.mean(dims: [1]).floats()
        let v = ln.square().mean(dims: [1]).floats()
        XCTAssertLessThan(m.map { Swift.abs($0) }.max()!, 1e-5)
        XCTAssertLessThan(v.map { Swift.abs($0 - 1) }.max()!, 1e-4)
    }
}
