import XCTest
import Tensor

/// The CUDA backend's knobs as a value (no GPU needed): defaults, clamping, and the environment's
/// overrides read once.
final class CUDAConfigurationTests: XCTestCase {
    func testDefaultsAndClamping() {
        let c = CUDABackend.Configuration()
        XCTAssertEqual(c.flashKernel, .wgmma3pp)
        XCTAssertEqual(c.flashKeyBlock, 64)
        XCTAssertTrue(c.allowFP8TensorCores)
        XCTAssertEqual(c.im2colBytes, 256 << 20)
        XCTAssertFalse(c.profiling)
        XCTAssertFalse(c.autotune)
        XCTAssertNil(c.kernelCacheFolder)
        XCTAssertEqual(c.uploadReaders, 8)
        XCTAssertTrue(c.cudaGraphs)
        XCTAssertTrue(c.fp8FusedAmax)
        XCTAssertEqual(c.flashStages, 2)
        XCTAssertEqual(CUDABackend.Configuration(im2colBytes: 0).im2colBytes, 1)
        XCTAssertEqual(CUDABackend.Configuration(uploadReaders: 0).uploadReaders, 1)
        var d = c
        d.flashKernel = .mma
        XCTAssertNotEqual(c, d)
    }

    /// `fromEnvironment` is the defaults plus MAJICFLUX_CUDA_FLASH / MAJICFLUX_CUDA_AUTOTUNE /
    /// MAJICFLUX_CUDA_UPLOAD_READERS / MAJICFLUX_CUDA_GRAPHS / MAJICFLUX_CUDA_ATTENTION /
    /// MAJICFLUX_FP8_FUSED_AMAX / MAJICFLUX_CUDA_FLASH_STAGES, and the kernel cache folder unless
    /// MAJICFLUX_CUDA_KERNEL_CACHE=0.
    func testEnvironmentOverrides() {
        let env = ProcessInfo.processInfo.environment
        var expected = CUDABackend.Configuration()
        if let k = env["MAJICFLUX_CUDA_FLASH"].flatMap(CUDABackend.FlashKernel.init(rawValue:)) { expected.flashKernel = k }
        expected.autotune = env["MAJICFLUX_CUDA_AUTOTUNE"] == "1"
        if let n = env["MAJICFLUX_CUDA_UPLOAD_READERS"].flatMap(Int.init), n > 0 { expected.uploadReaders = n }
        expected.cudaGraphs = env["MAJICFLUX_CUDA_GRAPHS"] != "0"
        expected.fp8Attention = env["MAJICFLUX_CUDA_ATTENTION"] == "fp8"
        expected.fp8FusedAmax = env["MAJICFLUX_FP8_FUSED_AMAX"] != "0"
        if let n = env["MAJICFLUX_CUDA_FLASH_STAGES"].flatMap(Int.init) { expected.flashStages = n }
        if env["MAJICFLUX_CUDA_KERNEL_CACHE"] != "0" { expected.kernelCacheFolder = CUDAKernelCache.defaultFolder }
        XCTAssertEqual(CUDABackend.Configuration.fromEnvironment, expected)
    }
}
