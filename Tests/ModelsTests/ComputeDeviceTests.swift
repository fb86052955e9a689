import Foundation
import Models
import Tensor
import XCTest

/// Device selection in the library (issue 16; it was the app's): auto, cpu and cuda, and the
/// precision rule.
final class ComputeDeviceTests: XCTestCase {
    func testCPUIsTheCPUAndAutoFallsBackToItForCPUOnlyPrecisions() throws {
        XCTAssertTrue(try ComputeDevice.cpu.makeBackend(for: .bf16) === CPUBackend.shared)
        // int8 and int4 run on the CPU only: auto never takes a GPU for them.
        for precision in [WeightPrecision.int8, .int4] {
            XCTAssertFalse(precision.runsOnGPU)
            XCTAssertTrue(try ComputeDevice.auto.makeBackend(for: precision) === CPUBackend.shared, "\(precision)")
        }
        XCTAssertTrue(WeightPrecision.bf16.runsOnGPU && WeightPrecision.f32.runsOnGPU)
        XCTAssertEqual(WeightPrecision.f32.gpuComputeDType, .f32)
        XCTAssertEqual(WeightPrecision.fp8.gpuComputeDType, .bf16)
        XCTAssertEqual(ComputeDevice.cuda(1).description, "cuda:1")
        XCTAssertEqual(ComputeDevice.cuda(), .cuda(0))
    }

    func testAutoAndCUDAFollowWhetherCUDAIsUsable() throws {
        let auto = try ComputeDevice.auto.makeBackend(for: .bf16)
        if let why = CUDABackend.unavailableReason() {
            XCTAssertEqual(auto.device, .cpu, "auto without CUDA is the CPU")
            XCTAssertThrowsError(try ComputeDevice.cuda(0).makeBackend(for: .bf16)) { error in
                guard case ComputeDeviceError.cudaUnavailable(let reason) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(reason, why)
                XCTAssertTrue("\(error)".contains(why), "\(error)")
            }
        } else {
            XCTAssertEqual(auto.device, .cuda(0), "auto with CUDA is the GPU")
            XCTAssertEqual(try ComputeDevice.cuda(0).makeBackend(for: .bf16).device, .cuda(0))
        }
    }

    func testPipelineFromAModelDirectoryMakesThePictureOfItsFiles() throws {
        let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-flux"
        var request = GenerationRequest(prompt: "a red circle", seed: 5, steps: 2, width: 64, height: 64)
        request.maxSequenceLength = 64
        let byFiles = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: dir), precision: .f32).generate(request)
        let pipeline = try FluxPipeline(modelDirectory: dir, device: .cpu, precision: .f32)
        XCTAssertTrue(pipeline.backend === CPUBackend.shared)
        XCTAssertEqual(pipeline.precision, .f32)
        XCTAssertEqual(try pipeline.generate(request).rgb, byFiles.rgb)
        // A VRAM budget is dropped when auto took the CPU, kept when the backend was asked for by name.
        XCTAssertEqual(try FluxPipeline(modelDirectory: dir, device: .cpu, vramBudget: 1 << 30).vramBudget, 1 << 30)
        let auto = try FluxPipeline(modelDirectory: dir, device: .auto, vramBudget: 1 << 30)
        XCTAssertEqual(auto.vramBudget, auto.backend.device == .cpu ? nil : 1 << 30)
        XCTAssertThrowsError(try FluxPipeline(modelDirectory: dir + "/nope")) { error in
            XCTAssertTrue("\(error)".contains("nope"), "\(error)")
        }
    }
}
