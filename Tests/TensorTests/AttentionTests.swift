import XCTest
import Tensor

/// scaledDotProductAttention against PyTorch float64 references (Tools/make_linalg_fixtures.py).
/// Tolerance: |ours - ref| <= 1e-5 |ref| + 2e-5 max|ref|: two f32 GEMMs plus a polynomial exp
/// (about 2 ulp) in between.
final class AttentionTests: XCTestCase {
    func testAttentionBasicDifferentLengths() throws {
        let f = try LinalgFixture("sdpa_basic")
        let y = scaledDotProductAttention(f["q"], f["k"], f["v"])
        XCTAssertEqual(y.shape, [2, 3, 10, 16])
        assertClose(y, f["out"], atol: 2e-5, "sdpa_basic")
    }

    func testAttentionAdditiveMaskBroadcastOverHeads() throws {
        let f = try LinalgFixture("sdpa_mask")
        XCTAssertEqual(f["mask"].shape, [2, 1, 10, 12])
        assertClose(scaledDotProductAttention(f["q"], f["k"], f["v"], mask: f["mask"]), f["out"], atol: 2e-5, "sdpa_mask")
    }

    func testAttentionCausalMask() throws {
        let f = try LinalgFixture("sdpa_causal")
        XCTAssertEqual(f["mask"].shape, [9, 9])
        let y = scaledDotProductAttention(f["q"], f["k"], f["v"], mask: f["mask"])
        assertClose(y, f["out"], atol: 2e-5, "sdpa_causal")
        // Row 0 sees only key 0: its output is exactly v[.., 0, :].
        let v0 = f["v"].slice(dim: 2, start: 0, end: 1).contiguous()
        assertClose(y.slice(dim: 2, start: 0, end: 1).contiguous(), v0, rtol: 1e-6, atol: 0, "causal row 0")
    }

    func testAttentionCustomScaleAndValueSize() throws {
        let f = try LinalgFixture("sdpa_scale_dv")
        let y = scaledDotProductAttention(f["q"], f["k"], f["v"], scale: 0.3)
        XCTAssertEqual(y.shape, [1, 2, 5, 4])
        assertClose(y, f["out"], atol: 2e-5, "sdpa_scale_dv")
    }

    func testAttentionLongSequenceManyBlocks() throws {
        let f = try LinalgFixture("sdpa_long")
        assertClose(scaledDotProductAttention(f["q"], f["k"], f["v"]), f["out"], atol: 2e-5, "sdpa_long default blocks")
        // Force 16-row blocks (38 blocks per head, parallel path) and 1-row blocks.
        func attention(_ configuration: CPUBackend.Configuration) -> Tensor {
            let b = CPUBackend(configuration: configuration)
            return scaledDotProductAttention(f["q"].moved(to: b), f["k"].moved(to: b), f["v"].moved(to: b))
        }
        assertClose(attention(CPUBackend.Configuration(attentionScratchBytes: 16 * 600 * 4)), f["out"], atol: 2e-5,
                    "sdpa_long 16-row blocks")
        assertClose(attention(CPUBackend.Configuration(attentionScratchBytes: 1, attentionMinBlockRows: 1)), f["out"],
                    atol: 2e-5, "sdpa_long 1-row blocks")
    }

    func testAttentionStridedHeadsAndFreeOutputReshape() throws {
        let f = try LinalgFixture("sdpa_mask")
        // (B, H, L, D) -> stored as (B, L, H, D) -> viewed back as (B, H, L, D): rows H*D apart.
        func bhld(_ t: Tensor) -> Tensor { t.permuted(0, 2, 1, 3).contiguous().permuted(0, 2, 1, 3) }
        let q = bhld(f["q"]), k = bhld(f["k"]), v = bhld(f["v"])
        XCTAssertFalse(q.isContiguous)
        let y = scaledDotProductAttention(q, k, v, mask: f["mask"])
        assertClose(y, f["out"], atol: 2e-5, "strided q/k/v")
        // The output's (B, L, H*D) view needs no copy.
        let merged = y.permuted(0, 2, 1, 3)
        XCTAssertTrue(merged.isContiguous)
        assertClose(merged.reshaped(2, 10, 48), f["out"].permuted(0, 2, 1, 3).contiguous().reshaped(2, 10, 48),
                    atol: 2e-5, "merged heads")
    }

    func testAttentionBroadcastKVAndHalfInputs() throws {
        let f = try LinalgFixture("sdpa_basic")
        // k/v with one head broadcast over q's three heads equals explicitly repeated k/v.
        let k1 = f["k"].slice(dim: 1, start: 0, end: 1), v1 = f["v"].slice(dim: 1, start: 0, end: 1)
        let rep = scaledDotProductAttention(f["q"], k1.expanded([2, 3, 12, 16]).contiguous(), v1.expanded([2, 3, 12, 16]).contiguous())
        assertClose(scaledDotProductAttention(f["q"], k1, v1), rep, rtol: 1e-6, atol: 1e-6, "broadcast k/v")
        // bf16 inputs are widened to f32.
        let q16 = f["q"].to(.bf16)
        assertClose(scaledDotProductAttention(q16, f["k"], f["v"]), scaledDotProductAttention(q16.to(.f32), f["k"], f["v"]),
                    rtol: 0, atol: 0, "bf16 q")
    }

    func testAttentionFullyMaskedRowGivesZeros() throws {
        let f = try LinalgFixture("sdpa_causal")
        var m = [Float](repeating: 0, count: 81)
        for j in 0..<9 { m[2 * 9 + j] = -.infinity }   // query row 2 sees no key
        let y = scaledDotProductAttention(f["q"], f["k"], f["v"], mask: Tensor(m, shape: [9, 9])).floats()
        for b in 0..<2 { for j in 0..<8 { XCTAssertEqual(y[(b * 9 + 2) * 8 + j], 0) } }
        XCTAssertFalse(y.contains { $0.isNaN })
    }
}
