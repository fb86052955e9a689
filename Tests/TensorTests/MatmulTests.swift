import XCTest
import Tensor

/// matmul and linear against PyTorch float64 references (Tools/make_linalg_fixtures.py).
/// Tolerance: |ours - ref| <= 1e-5 |ref| + 1e-5 max|ref| (f32 accumulation over K <= 48), and
/// 1e-5 |ref| + 3e-5 max|ref| for the K = 1024 case, where f32 rounding grows about like sqrt(K).
final class MatmulTests: XCTestCase {
    func testMatmul2D() throws {
        let f = try LinalgFixture("mm_2d")
        assertClose(matmul(f["a"], f["b"]), f["out"], "mm_2d")
        assertClose(f["a"].matmul(f["b"]), f["out"], "mm_2d method")
    }

    func testMatmulBatched() throws {
        let f = try LinalgFixture("mm_batched")
        assertClose(matmul(f["a"], f["b"]), f["out"], "mm_batched")
    }

    func testMatmulBroadcastsBatchDims() throws {
        let f = try LinalgFixture("mm_broadcast")
        let y = matmul(f["a"], f["b"])
        XCTAssertEqual(y.shape, [2, 4, 6, 5])
        assertClose(y, f["out"], "mm_broadcast")
    }

    func testMatmulTransposedViewsWithoutCopy() throws {
        let f = try LinalgFixture("mm_transposed")
        let a = f["aT"].transposed(), b = f["bT"].transposed()
        XCTAssertFalse(a.isContiguous)
        assertClose(matmul(a, b), f["out"], "mm_transposed")
        // Mixed: one operand transposed, the other made contiguous.
        assertClose(matmul(a.contiguous(), b), f["out"], "mm_transposed b only")
        assertClose(matmul(a, b.contiguous()), f["out"], "mm_transposed a only")
    }

    func testMatmulBatchedTransposedB() throws {
        let f = try LinalgFixture("mm_batched_bt")
        assertClose(matmul(f["a"], f["bT"].transposed(1, 2)), f["out"], "mm_batched_bt")
    }

    func testMatmulSharedRightOperandFolds() throws {
        let f = try LinalgFixture("mm_fold")
        assertClose(matmul(f["a"], f["b"]), f["out"], "mm_fold")
        // Same product where a's batch rows are not evenly spaced (a slice of the M dim): no fold.
        let aSliced = f["a"].slice(dim: 2, start: 1, end: 4)
        let ref = f["out"].slice(dim: 2, start: 1, end: 4).contiguous()
        assertClose(matmul(aSliced, f["b"]), ref, "mm_fold sliced")
    }

    func testMatmulManySmallBatchesInParallel() throws {
        let f = try LinalgFixture("mm_many")
        assertClose(matmul(f["a"], f["b"]), f["out"], "mm_many")
    }

    func testMatmulVectorCases() throws {
        let f = try LinalgFixture("mm_vec")
        let vm = matmul(f["v"], f["m"])
        XCTAssertEqual(vm.shape, [6])
        assertClose(vm, f["vm"], "vector x matrix")
        let m2v = matmul(f["m2"], f["v"])
        XCTAssertEqual(m2v.shape, [4])
        assertClose(m2v, f["m2v"], "matrix x vector")
        let dot = matmul(f["v"], f["w"])
        XCTAssertEqual(dot.shape, [])
        assertClose(dot.reshaped(1), f["dot"], "dot")
    }

    func testMatmulLargeK() throws {
        let f = try LinalgFixture("mm_large_k")
        assertClose(matmul(f["a"], f["b"]), f["out"], atol: 3e-5, "mm_large_k")
    }

    func testMatmulConvertsHalfPrecisionInputs() throws {
        // bf16 inputs are widened to f32: the result equals the f32 product of the rounded values.
        let f = try LinalgFixture("mm_2d")
        let a16 = f["a"].to(.bf16), b16 = f["b"].to(.bf16)
        assertClose(matmul(a16, b16), matmul(a16.to(.f32), b16.to(.f32)), rtol: 0, atol: 0, "bf16 matmul")
    }

    func testLinearWithBias() throws {
        let f = try LinalgFixture("lin_bias")
        let y = linear(f["x"], weight: f["w"], bias: f["bias"])
        XCTAssertEqual(y.shape, [2, 5, 10])
        assertClose(y, f["out"], "lin_bias")
    }

    func testLinearWithoutBias() throws {
        let f = try LinalgFixture("lin_nobias")
        assertClose(linear(f["x"], weight: f["w"]), f["out"], "lin_nobias")
    }

    func testLinearStridedInputAndTransposedWeight() throws {
        let f = try LinalgFixture("lin_strided")
        let x = f["xwide"].slice(dim: 1, start: 0, end: 24)   // row stride 48
        let w = f["wT"].transposed()                           // column-major (10, 24)
        assertClose(linear(x, weight: w, bias: f["bias"]), f["out"], "lin_strided")
        // A non-mergeable input (a transposed view) is copied and still correct.
        let xt = x.contiguous().transposed().contiguous().transposed()
        assertClose(linear(xt, weight: w, bias: f["bias"]), f["out"], "lin_strided transposed x")
    }

    func testLinearBF16WeightDecodedInPanels() throws {
        let f = try LinalgFixture("lin_bf16")
        let w16 = f["w"].to(.bf16)   // the fixture weight is bf16-representable: exact
        XCTAssertEqual(w16.floats(), f["w"].floats())
        assertClose(linear(f["x"], weight: w16, bias: f["bias"]), f["out"], "lin_bf16")
        assertClose(linear(f["x"], weight: f["w"].to(.f16), bias: f["bias"]),
                    linear(f["x"], weight: f["w"].to(.f16).to(.f32), bias: f["bias"]), rtol: 1e-6, atol: 1e-6, "f16 weight")
        // The public panel hook, with 16-row panels (3 panels for 36 outputs), decoding bf16 bits.
        let bits = w16.hostBytes().withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let inF = 40
        var decoded = Set<Int>()
        let y = CPUBackend.shared.linear(f["x"], outFeatures: 36, inFeatures: inF, bias: f["bias"], panelRows: 16) { rows, dst in
            for (i, r) in rows.enumerated() {
                for j in 0..<inF { dst[i * inF + j] = BFloat16.float(fromBits: bits[r * inF + j]) }
            }
            recordDecodedRows(rows, &decoded)
        }
        XCTAssertEqual(decoded, Set(0..<36), "every weight row decoded exactly once")
        assertClose(y, f["out"], "lin_bf16 panels")
    }
}

/// Records decoded rows from concurrent decode calls (serialised by a lock).
private let decodeLock = NSLock()
private func recordDecodedRows(_ rows: Range<Int>, _ set: inout Set<Int>) {
    decodeLock.lock(); defer { decodeLock.unlock() }
    for r in rows { XCTAssertFalse(set.contains(r), "row \(r) decoded twice"); set.insert(r) }
}
