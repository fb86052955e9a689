import Foundation
import XCTest
import COpenBLAS
import Tensor
import Quant

/// Throughput and memory measurements for BENCHMARKS.md. Skipped unless QUANT_BENCH=1 (they take
/// about a minute and need ~2 GB of memory). They assert only sanity (finite, consistent results).
final class QuantBenchmarks: XCTestCase {
    /// OpenBLAS on the CPU's own kernels, as the executables run it.
    override class func setUp() { OpenBLASSetup.prepareProcess() }

    private func skipUnlessEnabled() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["QUANT_BENCH"] == "1", "set QUANT_BENCH=1 to run benchmarks")
    }

    /// Deterministic pseudo-normal values (xorshift32 + Box-Muller), scaled by `std`.
    static func normals(_ n: Int, seed: UInt32, std: Float) -> [Float] {
        var s = seed | 1
        func next() -> Float {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5
            return (Float(s >> 8) + 0.5) * 0x1p-24
        }
        var out = [Float](repeating: 0, count: n)
        var i = 0
        while i < n {
            let r = (-2 * Foundation.log(next())).squareRoot(), t = 2 * Float.pi * next()
            out[i] = r * Foundation.cos(t) * std
            if i + 1 < n { out[i + 1] = r * Foundation.sin(t) * std }
            i += 2
        }
        return out
    }

    private func best(_ reps: Int, _ body: () -> Void) -> Double {
        var b = Double.infinity
        for _ in 0..<reps {
            let t = Date()
            body()
            b = min(b, Date().timeIntervalSince(t))
        }
        return b
    }

    func testCodecThroughput() throws {
        try skipUnlessEnabled()
        let n = 1 << 26
        let src = Self.normals(n, seed: 7, std: 30)
        var codes = [UInt8](repeating: 0, count: n)
        var back = [Float](repeating: 0, count: n)
        let threads = CPUBackend.shared.configuration.threads
        for (label, parallel) in [("1 thread", false), ("\(threads) threads", true)] {
            let enc = best(3) {
                src.withUnsafeBufferPointer { s in codes.withUnsafeMutableBufferPointer { c in
                    let sp = s.baseAddress!, cp = c.baseAddress!
                    if parallel {
                        CPUBackend.shared.parallel.forEach(n, grain: 1 << 16) { r in Float8E4M3FN.encode(sp + r.lowerBound, into: cp + r.lowerBound, count: r.count) }
                    } else { Float8E4M3FN.encode(sp, into: cp, count: n) }
                }}
            }
            let dec = best(3) {
                codes.withUnsafeBufferPointer { c in back.withUnsafeMutableBufferPointer { b in
                    let cp = c.baseAddress!, bp = b.baseAddress!
                    if parallel {
                        CPUBackend.shared.parallel.forEach(n, grain: 1 << 16) { r in Float8E4M3FN.decode(cp + r.lowerBound, into: bp + r.lowerBound, count: r.count) }
                    } else { Float8E4M3FN.decode(cp, into: bp, count: n) }
                }}
            }
            let e5 = best(3) {
                src.withUnsafeBufferPointer { s in codes.withUnsafeMutableBufferPointer { c in
                    let sp = s.baseAddress!, cp = c.baseAddress!
                    if parallel {
                        CPUBackend.shared.parallel.forEach(n, grain: 1 << 16) { r in Float8E5M2.encode(sp + r.lowerBound, into: cp + r.lowerBound, count: r.count) }
                    } else { Float8E5M2.encode(sp, into: cp, count: n) }
                }}
            }
            print(String(format: "BENCH codec %@: e4m3fn encode %.2f Gvalues/s (%.2f GB/s in+out), decode %.2f Gvalues/s (%.2f GB/s), e5m2 encode %.2f Gvalues/s",
                         label, Double(n) / enc / 1e9, Double(n) * 5 / enc / 1e9, Double(n) / dec / 1e9, Double(n) * 5 / dec / 1e9, Double(n) / e5 / 1e9))
        }
        // In-cache (32 Ki values, L1/L2 resident), one thread: compute throughput without memory traffic.
        let small = 1 << 15, reps = 2000
        let encC = best(3) {
            src.withUnsafeBufferPointer { s in codes.withUnsafeMutableBufferPointer { c in
                for _ in 0..<reps { Float8E4M3FN.encode(s.baseAddress!, into: c.baseAddress!, count: small) }
            }}
        }
        let decC = best(3) {
            codes.withUnsafeBufferPointer { c in back.withUnsafeMutableBufferPointer { b in
                for _ in 0..<reps { Float8E4M3FN.decode(c.baseAddress!, into: b.baseAddress!, count: small) }
            }}
        }
        print(String(format: "BENCH codec in-cache 1 thread: e4m3fn encode %.2f Gvalues/s, decode %.2f Gvalues/s",
                     Double(small * reps) / encC / 1e9, Double(small * reps) / decC / 1e9))
        // Tensor-level conversion (the CPUBackend path).
        let t = Tensor(src, shape: [n])
        let tc = best(3) { _ = t.to(.f8e4m3fn) }
        let f8 = t.to(.f8e4m3fn)
        let td = best(3) { _ = f8.to(.f32) }
        print(String(format: "BENCH codec Tensor.to: f32->e4m3fn %.2f Gvalues/s, e4m3fn->f32 %.2f Gvalues/s", Double(n) / tc / 1e9, Double(n) / td / 1e9))
        XCTAssertEqual(back.count, n)
    }

    func testQuantizedLinearSpeed() throws {
        try skipUnlessEnabled()
        let m = 4096, k = 3072, n = 3072
        let rounds = Int(ProcessInfo.processInfo.environment["QUANT_BENCH_ROUNDS"] ?? "5") ?? 5
        let x = Tensor(Self.normals(m * k, seed: 3, std: 1), shape: [m, k])
        let wv = Self.normals(n * k, seed: 5, std: 0.02)
        let w = Tensor(wv, shape: [n, k])
        let bias = Tensor(Self.normals(n, seed: 9, std: 0.1), shape: [n])
        let bv = bias.floats()
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        // Baseline: one sgemm on the whole f32 weight.
        var out = [Float](repeating: 0, count: m * n)
        let xs = x.rawPointer.assumingMemoryBound(to: Float.self)
        func baseline() {
            wv.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { o in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, xs, Int32(k),
                            wp.baseAddress!, Int32(k), 0, o.baseAddress!, Int32(n))
            }}
        }
        baseline()
        let ref = out
        var cases: [(String, QuantizedLinear)] = []
        for (label, q) in [("f32", try QuantizedWeight(plain: w)),
                           ("bf16", try QuantizedWeight(plain: w.to(.bf16))),
                           ("fp8-e4m3fn tensor", try QuantizedWeight.quantize(w, format: .fp8e4m3fn, granularity: .tensor)),
                           ("fp8-e4m3fn channel", try QuantizedWeight.quantize(w, format: .fp8e4m3fn, granularity: .channel)),
                           ("int8 channel", try QuantizedWeight.quantize(w, format: .int8, granularity: .channel)),
                           ("int4 block:64", try QuantizedWeight.quantize(w, format: .int4, granularity: .block(64)))] {
            cases.append((label, try QuantizedLinear(weight: q, bias: bias)))
        }
        let q8 = cases[2].1.weight
        for mib in [2, 4, 8, 64] { cases.append(("fp8-e4m3fn tensor", try QuantizedLinear(weight: q8, bias: bias, panelBytes: mib << 20))) }
        // Interleaved rounds: every configuration runs once per round; the best time of each is kept.
        var bestBase = Double.infinity
        var bestCase = [Double](repeating: .infinity, count: cases.count)
        var bestDeq = [Double](repeating: .infinity, count: cases.count)
        var maxRel = [Float](repeating: 0, count: cases.count)
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        defer { buf.deallocate() }
        for _ in 0..<rounds {
            bestBase = min(bestBase, best(1) { baseline() })
            for (i, (_, lin)) in cases.enumerated() {
                var y: Tensor?
                bestCase[i] = min(bestCase[i], best(1) { y = lin(x) })
                bestDeq[i] = min(bestDeq[i], best(1) { lin.weight.dequantizeRows(0..<n, into: buf) })
                let yv = y!.floats()
                for j in Swift.stride(from: 0, to: m * n, by: 997) {
                    let r = ref[j] + bv[j % n]
                    maxRel[i] = max(maxRel[i], Swift.abs(yv[j] - r) / max(1, Swift.abs(r)))
                }
            }
        }
        print(String(format: "BENCH linear M=%d K=%d N=%d, best of %d interleaved rounds, %d threads", m, k, n, rounds, CPUBackend.shared.configuration.threads))
        print(String(format: "BENCH linear | f32 sgemm, whole weight | %.3f s | %.0f GFLOP/s | 1.00x | - | %.1f MB |",
                     bestBase, flops / bestBase / 1e9, Double(n * k * 4) / 1e6))
        for (i, (label, lin)) in cases.enumerated() {
            print(String(format: "BENCH linear | %@, panel %d MiB (%d rows) | %.3f s | %.0f GFLOP/s | %.2fx | %.1f ms | %.1f MB | max rel diff %.3g",
                         label, lin.panelBytes >> 20, lin.panelRows, bestCase[i], flops / bestCase[i] / 1e9, bestCase[i] / bestBase,
                         bestDeq[i] * 1e3, Double(lin.weight.byteCount) / 1e6, maxRel[i]))
            XCTAssertTrue(maxRel[i].isFinite)
        }
        XCTAssertLessThan(maxRel[0], 1e-4)  // the f32 panel path equals the whole-weight sgemm up to rounding
    }

    /// Error report on full-size random Flux layers (N(0, 0.02) weights with rare outliers, as trained
    /// transformer weights have heavier tails than a Gaussian).
    func testErrorReportFluxLayer() throws {
        try skipUnlessEnabled()
        for (name, rows, cols) in [("single_blocks.N.linear1", 21504, 3072), ("double_blocks.N.img_mlp.2", 3072, 12288)] {
            var v = Self.normals(rows * cols, seed: 11, std: 0.02)
            for i in Swift.stride(from: 17, to: v.count, by: 10007) { v[i] *= 25 }  // ~0.01% outliers of ~0.5
            let w = Tensor(v, shape: [rows, cols]).to(.bf16)
            for (fmt, gran) in [(QuantFormat.fp8e4m3fn, ScaleGranularity.none), (.fp8e4m3fn, .tensor), (.fp8e4m3fn, .channel),
                                (.fp8e5m2, .channel), (.int8, .channel), (.int4, .block(64)), (.int4, .block(32))] {
                let t0 = Date()
                let q = try QuantizedWeight.quantize(w, format: fmt, granularity: gran)
                let qt = Date().timeIntervalSince(t0)
                let e = QuantizationError.measure(original: w, quantized: q)
                print(String(format: "BENCH error %@ [%d, %d] %@ %@: rel %.4g, maxabs %.4g, nan %d, overflow %d, bytes %.1f MB (bf16 %.1f MB), quantize %.2f s",
                             name, rows, cols, fmt.rawValue, gran.description, e.relativeError, e.maxAbsError, e.nanCount, e.overflowCount,
                             Double(q.byteCount) / 1e6, Double(rows * cols * 2) / 1e6, qt))
                XCTAssertEqual(e.nanCount, 0)
            }
        }
    }
}
