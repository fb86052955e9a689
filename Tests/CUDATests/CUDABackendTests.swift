import XCTest
import Tensor

/// CUDA backend tests. The kernel-compile test needs only libnvrtc (found on the library path or in
/// MAJICFLUX_CUDA_LIB_DIR, e.g. the pip wheel `nvidia/cu13/lib`), no GPU; the others need a GPU and
/// skip with a visible note where there is none (CI). The full op-by-op comparison is
/// `cuda-check ops` (Examples/CUDACheck).
final class CUDABackendTests: XCTestCase {
    func testKernelsCompileWithNVRTC() throws {
        guard let nvrtc = NVRTC.load() else {
            throw XCTSkip("libnvrtc not found: CUDA kernels not compiled (set MAJICFLUX_CUDA_LIB_DIR to check them without a GPU)")
        }
        let ptx = try nvrtc.compilePTX(CUDAKernelSource.all, name: "majicflux.cu", arch: "compute_90")
        XCTAssertGreaterThan(ptx.count, 100_000)
        let text = ptx.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        for kernel in ["ew_unary", "ew_binary", "norm_rows", "group_norm", "im2col", "attn_rows", "flash_d128", "flash_d64",
                       "mod_layernorm", "gated_residual", "qk_norm_rope", "fill_uniform"] {
            XCTAssertTrue(text.contains(".entry \(kernel)("), "kernel \(kernel) missing from the PTX")
        }
        XCTAssertFalse(text.contains(".entry flash_wg_d128("), "the wgmma kernel must be left out of plain compute_90")
        // Hopper's arch-specific target compiles the wgmma flash kernel too.
        let hopper = try nvrtc.compilePTX(CUDAKernelSource.all, name: "majicflux.cu", arch: "compute_90a")
            .withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        XCTAssertTrue(hopper.contains(".entry flash_wg_d128("), "the wgmma flash kernel is missing from the sm_90a PTX")
        XCTAssertTrue(hopper.contains("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16"))
    }

    func testUnavailableIsReportedNotFatal() throws {
        if let why = CUDABackend.unavailableReason() {
            print("note: no CUDA GPU here (\(why)); GPU tests skipped")
            XCTAssertThrowsError(try CUDABackend.make())
        }
    }

    func gpu(_ dtype: DType = .f32) throws -> CUDABackend {
        if let why = CUDABackend.unavailableReason() { throw XCTSkip("no CUDA GPU: \(why)") }
        return try CUDABackend.make(computeDType: dtype)
    }

    func testRoundTripAndElementwise() throws {
        let g = try gpu()
        let values: [Float] = (0..<1000).map { (i: Int) -> Float in Float(i) * 0.01 - 3 }
        let x = Tensor(values, shape: [10, 100], backend: g)
        XCTAssertEqual(x.floats(), values)
        let y = (x * 2 + 1).floats()
        for (a, b) in zip(y, values) { XCTAssertEqual(a, b * 2 + 1, accuracy: 1e-5) }
        let t = x.transposed(0, 1).contiguous().floats()
        XCTAssertEqual(t[1], values[100])
    }

    func testLinearMatchesCPU() throws {
        let g = try gpu()
        let xv: [Float] = (0..<(7 * 33)).map { (i: Int) -> Float in Float((i * 37) % 101) / 50 - 1 }
        let wv: [Float] = (0..<(9 * 33)).map { (i: Int) -> Float in Float((i * 53) % 89) / 44 - 1 }
        let bv: [Float] = (0..<9).map { (i: Int) -> Float in Float(i) / 9 }
        let cpu = linear(Tensor(xv, shape: [7, 33]), weight: Tensor(wv, shape: [9, 33]), bias: Tensor(bv, shape: [9])).floats()
        let out = linear(Tensor(xv, shape: [7, 33], backend: g), weight: Tensor(wv, shape: [9, 33], backend: g),
                         bias: Tensor(bv, shape: [9], backend: g)).floats()
        for (a, b) in zip(out, cpu) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }
}
