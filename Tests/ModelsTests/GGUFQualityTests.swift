import Foundation
import XCTest
import Models
import Quant
import Tensor

/// Quality of DiTs held in ggml blocks (`--precision q8_0`, `q5_k`, `q4_k`): one DiT step against
/// bf16 weights, and the default model's held-out prompt check (as DefaultModelQualityTests).
final class GGUFQualityTests: XCTestCase {
    static let modelDir = DefaultModelQualityTests.modelDir

    /// The default model's DiT structure (hidden 256, 1 double + 2 single blocks; every block Linear
    /// whole Q*_K super-blocks) with random weights: N(0, 1/in) Linears, N(1, 0.1) norm scales.
    static func randomDiT() throws -> (FluxConfig, DictionaryWeights) {
        let base = try FluxCheckpointLayout.canonical(CheckpointWeights(path: modelDir + "/transformer"))
        var tensors: [String: Tensor] = [:]
        for (i, name) in base.names.sorted().enumerated() {
            let shape = base.shape(of: name)!
            let r = TorchGenerator(seed: UInt64(100 + i)).randn(shape)
            if name.hasSuffix(".scale") || name.contains("norm") {
                tensors[name] = r * 0.1 + 1
            } else {
                tensors[name] = r * (1 / Float(shape.count == 2 ? shape[1] : 16).squareRoot())
            }
        }
        let config = try FluxConfig.infer(shape: { tensors[$0]?.shape }, names: Array(tensors.keys))
        return (config, DictionaryWeights(tensors))
    }

    /// ‖a − b‖ / ‖b‖.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let d = zip(a, b).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
        let n = b.map { Double($0) * Double($0) }.reduce(0, +)
        return Float((d / n).squareRoot())
    }

    func testDiTStepErrorVsBF16_Q8_0AtMostFP8s() throws {
        let (config, f32) = try Self.randomDiT()
        // bf16 weights: the reference every quantisation is measured against (as the GPU check does).
        var rounded: [String: Tensor] = [:]
        for name in f32.names { rounded[name] = try f32.tensor(name).to(.bf16) }
        let bf16 = DictionaryWeights(rounded)
        func step(_ q: LinearQuantization?) throws -> [Float] {
            let dit = try FluxTransformer(config: config, weights: bf16, computeDType: .f32, quantization: q)
            let img = TorchGenerator(seed: 1).randn([1, 256, config.inChannels])
            let txt = TorchGenerator(seed: 2).randn([1, 32, config.jointAttentionDim])
            let pooled = TorchGenerator(seed: 3).randn([1, config.pooledProjectionDim])
            return dit(img: img, height: 16, width: 16, txt: txt, pooled: pooled, timestep: [0.7], guidance: [3.5]).floats()
        }
        let reference = try step(nil)
        var errors: [String: Float] = [:]
        for (name, q) in [("fp8", LinearQuantization.fluxFP8), ("Q8_0", .gguf(.q8_0)), ("Q6_K", .gguf(.q6_K)),
                          ("Q5_K", .gguf(.q5_K)), ("Q4_K", .gguf(.q4_K)), ("Q3_K", .gguf(.q3_K)), ("Q2_K", .gguf(.q2_K))] {
            errors[name] = Self.relativeError(try step(q), reference)
        }
        print("DiT step (default model's structure, random weights, 256 + 32 tokens), relative error vs bf16: "
              + ["fp8", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K"].map { "\($0) \(errors[$0]!)" }.joined(separator: ", "))
        XCTAssertLessThanOrEqual(errors["Q8_0"]!, errors["fp8"]!, "Q8_0 at most fp8's error")
        XCTAssertGreaterThan(errors["Q8_0"]!, 0, "Q8_0 really quantises")
        // More bits, less error, and Q4_K within the range ggml users accept.
        let order = ["Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K"].map { errors[$0]! }
        XCTAssertEqual(order, order.sorted(), "\(errors)")
        XCTAssertLessThan(errors["Q4_K"]!, 0.1)
    }

    /// The held-out prompts with the DiT's block Linears in Q8_0 (quantised at load): within 2 points
    /// of bf16 (95.8%, DefaultModelQualityTests). MAJICFLUX_QUALITY_ALL adds Q5_K and Q4_K (printed).
    func testDefaultModelHeldOutPromptsInQ8_0() throws {
        let rows = try DefaultModelQualityTests.rows()
        XCTAssertEqual(rows.count, 96)
        let q8 = try DefaultModelQualityTests.evaluate(.q8_0, rows: rows).correct
        print("default model, held-out prompts, all three right: Q8_0 blocks \(q8)%")
        XCTAssertGreaterThanOrEqual(q8, 90)
        XCTAssertEqual(q8, 95.8, accuracy: 2.1, "Q8_0 within 2 points of bf16 (95.8%)")
        if ProcessInfo.processInfo.environment["MAJICFLUX_QUALITY_ALL"] != nil {
            for p in [WeightPrecision.q5_k, .q4_k] {
                print("default model, held-out prompts, \(p.rawValue): \(try DefaultModelQualityTests.evaluate(p, rows: rows).correct)%")
            }
        }
    }
}
