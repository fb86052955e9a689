#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XCTest
import Tensor

/// The fused CPU kernels added for CPU inference speed (issue 10) against the unfused compositions
/// they replace, plus the buffer cache and the OpenBLAS core choice.
final class FusedOpsTests: XCTestCase {
    /// Deterministic values in [-2, 2).
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(Int64(bitPattern: s >> 40) & 0xFFFFFF) / Float(1 << 22) - 2
        }
    }

    func assertClose(_ a: Tensor, _ b: Tensor, tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let x = a.floats(), y = b.floats()
        var worst: Float = 0
        for i in 0..<min(x.count, y.count) { worst = Swift.max(worst, abs(x[i] - y[i]) / (1 + abs(y[i]))) }
        XCTAssertLessThanOrEqual(worst, tol, what, file: file, line: line)
    }

    /// One-pass RoPE equals the composed formula (same f32 products, so to the last bit here), also for
    /// a non-contiguous input (a (B, L, H, D) tensor viewed as (B, H, L, D)).
    func testRotaryEmbeddingMatchesComposedFormula() {
        let (b, h, l, d) = (2, 3, 5, 8)
        let x = Tensor(values(b * h * l * d, seed: 1), shape: [b, h, l, d])
        let cos = Tensor(values(l * d / 2, seed: 2), shape: [l, d / 2]), sin = Tensor(values(l * d / 2, seed: 3), shape: [l, d / 2])
        func composed(_ x: Tensor) -> Tensor {
            let pairs = x.reshaped(b, h, l, d / 2, 2)
            let x0 = pairs.select(dim: 4, index: 0), x1 = pairs.select(dim: 4, index: 1)
            return concat([(cos * x0 - sin * x1).unsqueezed(4), (sin * x0 + cos * x1).unsqueezed(4)], dim: 4).reshaped(b, h, l, d)
        }
        assertClose(applyRotaryEmbedding(x, cos: cos, sin: sin), composed(x), tol: 1e-6, "contiguous")
        let strided = Tensor(values(b * h * l * d, seed: 4), shape: [b, l, h, d]).permuted(0, 2, 1, 3)
        XCTAssertFalse(strided.isContiguous)
        assertClose(applyRotaryEmbedding(strided, cos: cos, sin: sin), composed(strided), tol: 1e-6, "strided")
        // A rotation keeps each pair's length.
        let y = applyRotaryEmbedding(x, cos: Tensor([Float](repeating: 0.6, count: l * d / 2), shape: [l, d / 2]),
                                     sin: Tensor([Float](repeating: 0.8, count: l * d / 2), shape: [l, d / 2])).floats()
        let xs = x.floats()
        for i in stride(from: 0, to: xs.count, by: 2) {
            XCTAssertEqual(y[i] * y[i] + y[i + 1] * y[i + 1], xs[i] * xs[i] + xs[i + 1] * xs[i + 1], accuracy: 1e-4)
        }
    }

    /// GroupNorm + SiLU in one pass equals silu(groupNorm(x)) within f32 rounding.
    func testGroupNormSiLUMatchesUnfused() {
        let x = Tensor(values(2 * 8 * 6 * 5, seed: 5), shape: [2, 8, 6, 5]) * 3 + 1
        let w = Tensor(values(8, seed: 6), shape: [8]), bias = Tensor(values(8, seed: 7), shape: [8])
        let fused = groupNormSiLU(x, groups: 4, weight: w, bias: bias, eps: 1e-6)
        let unfused = silu(groupNorm(x, groups: 4, weight: w, bias: bias, eps: 1e-6))
        assertClose(fused, unfused, tol: 1e-6, "groupNormSiLU")
        assertClose(groupNormSiLU(x, groups: 2), silu(groupNorm(x, groups: 2)), tol: 1e-6, "no affine")
    }

    /// Large buffers come back from the cache (same address) and their contents are written by the op,
    /// not inherited: an op on a recycled buffer gives the same result as on a fresh one.
    func testBufferCacheReusesLargeBuffers() {
        let n = (4 << 20) / 4
        let a = Tensor(values(n, seed: 8), shape: [n])
        var address: UnsafeMutableRawPointer?
        var first: [Float] = []
        do {
            let y = a * 2
            address = y.storage.pointer
            first = y.floats()
        }
        let z = a * 2
        XCTAssertEqual(z.storage.pointer, address, "a freed 4 MB buffer is handed out again")
        XCTAssertEqual(z.floats(), first)
    }

    /// The OpenBLAS core picked for a CPU's flags, and that the running core is not a generic fallback
    /// on a CPU that has AVX2 once the process was prepared (as every executable's main does first).
    func testOpenBLASCoreChoice() {
        OpenBLASSetup.prepareProcess()
        XCTAssertEqual(OpenBLASSetup.prepareProcess(), OpenBLASSetup.prepareProcess(), "prepared once per process")
        XCTAssertEqual(CPUBackend.blasCore(forCPUFlags: ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16"]), "Cooperlake")
        XCTAssertEqual(CPUBackend.blasCore(forCPUFlags: ["avx2", "fma", "avx512f", "avx512bw", "avx512vl"]), "SkylakeX")
        XCTAssertEqual(CPUBackend.blasCore(forCPUFlags: ["avx2", "fma"]), "Haswell")
        XCTAssertNil(CPUBackend.blasCore(forCPUFlags: ["sse2"]))
        if CPUBackend.blasCore(forCPUFlags: CPUBackend.cpuFlags) != nil && getenv("OPENBLAS_CORETYPE") == nil {
            XCTAssertNotEqual(CPUBackend.blasCoreName.lowercased(), "prescott", "OpenBLAS runs its SSE3 fallback on an AVX2 CPU")
        }
    }
}
