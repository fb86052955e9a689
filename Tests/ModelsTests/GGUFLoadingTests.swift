import Foundation
import XCTest
import Models
import Quant
import Tensor

/// GGUF files as model weights: the tiny DiT as ComfyUI-GGUF converts it (F32 with the ComfyUI prefix,
/// Q8_0 with BFL names) and the tiny T5 encoder under llama.cpp's names, all written by
/// Tools/make_gguf_fixtures.py with the reference gguf package.
final class GGUFLoadingTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let dir = fixtures + "/tiny-flux"
    static let ggufDir = fixtures + "/gguf"

    func request() -> GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background, 一只红色的圆", seed: 42, steps: 4, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }


    func picture(dit: String, t5: String? = nil, precision: WeightPrecision) throws -> [UInt8] {
        let files = try FluxModelFiles.resolve(modelDir: Self.dir, dit: dit, overrides: .init(t5: t5))
        return try FluxPipeline(files: files, precision: precision).generate(request()).rgb
    }

    func testDiTFromGGUFGivesTheSafetensorsPicture() throws {
        let safetensors = Self.fixtures + "/tiny-flux-dit-comfy.safetensors"
        let reference = try picture(dit: safetensors, precision: .f32)
        let f32 = try picture(dit: Self.ggufDir + "/tiny-flux-dit-f32.gguf", precision: .f32)
        XCTAssertEqual(f32, reference, "an F32 GGUF holds the same values: the same picture")
        let q8 = try picture(dit: Self.ggufDir + "/tiny-flux-dit-q8_0.gguf", precision: .f32)
        let p = PictureComparison.psnr(q8, reference)
        print("tiny pipeline PSNR, Q8_0 GGUF DiT vs safetensors (f32): \(p) dB")
        XCTAssertGreaterThanOrEqual(p, 30)
        XCTAssertNotEqual(q8, reference, "Q8_0 really quantizes")
        // Under the default precision (weights as stored) the F32 file gives the bf16 file's picture.
        let bf16Reference = try picture(dit: safetensors, precision: .bf16)
        let bf16 = try picture(dit: Self.ggufDir + "/tiny-flux-dit-f32.gguf", precision: .bf16)
        XCTAssertEqual(bf16, bf16Reference)
    }

    /// `--precision q4_k` on a DiT whose rows are no whole 256-value blocks ran as bf16 without a word:
    /// the pipeline warns before loading (q8_0's 32-value blocks fit the tiny DiT: no warning).
    func testAGGUFPrecisionThatHoldsNothingIsWarnedAbout() throws {
        let files = try FluxModelFiles.resolve(modelDir: Self.dir)
        let q4 = try FluxPipeline(files: files, precision: .q4_k).warnings
        XCTAssertTrue(q4.contains { $0.contains("--precision q4_k: none of the DiT's") && $0.contains("256-value blocks") && $0.contains("bf16") }, "\(q4)")
        let q8 = try FluxPipeline(files: files, precision: .q8_0).warnings
        XCTAssertFalse(q8.contains { $0.contains("--precision") }, "\(q8)")
        let bf16 = try FluxPipeline(files: files, precision: .bf16).warnings
        XCTAssertFalse(bf16.contains { $0.contains("--precision") }, "\(bf16)")
    }

    func testQ8_0DiTWeightsAreTheReferenceDequantization() throws {
        // Tensor by tensor: what the loader gets is gguf-py's dequantization of the file (Q8_0 blocks
        // of the bf16 weights, checked bit for bit in QuantTests), under the BFL names of the safetensors DiT.
        let gguf = try FluxCheckpointLayout.canonical(GGUFWeights(path: Self.ggufDir + "/tiny-flux-dit-q8_0.gguf"))
        let st = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.fixtures + "/tiny-flux-dit-comfy.safetensors"))
        XCTAssertEqual(Set(gguf.names), Set(st.names))
        var quantized = 0
        for name in st.names {
            XCTAssertEqual(gguf.shape(of: name), st.shape(of: name), name)
            let a = try gguf.tensor(name).floats(), b = try st.tensor(name).to(.f32).floats()
            if a != b {
                quantized += 1
                let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(err, (b.map(abs).max() ?? 0) / 100, name)
            }
        }
        XCTAssertEqual(quantized, 16, "the block Linears")
    }

    func testT5FromLlamaCppGGUFMatchesSafetensors() throws {
        let config = try ConfigFile.load(T5Config.self, path: Self.dir + "/text_encoder_2/config.json", what: "T5 config")
        let source = T5CheckpointLayout.canonical(try GGUFWeights(path: Self.ggufDir + "/tiny-t5-llamacpp.gguf"))
        XCTAssertTrue(source.names.contains("encoder.block.1.layer.1.DenseReluDense.wi_1.weight"))
        let fromGGUF = try T5Encoder(config: config, weights: source)
        let fromST = try T5Encoder(config: config, weights: CheckpointWeights(path: Self.dir + "/text_encoder_2/model.safetensors"))
        let ids = [[37, 423, 9, 1, 0, 0, 5099, 17]]
        XCTAssertEqual(fromGGUF(ids).floats(), fromST(ids).floats())
        // The whole pipeline with both GGUF files.
        let reference = try picture(dit: Self.fixtures + "/tiny-flux-dit-comfy.safetensors", precision: .f32)
        let both = try picture(dit: Self.ggufDir + "/tiny-flux-dit-f32.gguf", t5: Self.ggufDir + "/tiny-t5-llamacpp.gguf", precision: .f32)
        XCTAssertEqual(both, reference)
    }

    func testGGUFFilesAreRecognisedAndBadOnesNamed() throws {
        let path = Self.ggufDir + "/tiny-flux-dit-q8_0.gguf"
        XCTAssertTrue(isGGUF(path))
        XCTAssertFalse(isGGUF(Self.fixtures + "/tiny-flux-dit-comfy.safetensors"))
        XCTAssertTrue(try openWeights(path: path) is GGUFWeights)
        let files = try FluxModelFiles.resolve(modelDir: Self.dir, dit: path)
        XCTAssertNoThrow(try files.estimateMemory(precision: .bf16, request: MemoryRequest(width: 64, height: 64, sequenceLength: 64)))
        XCTAssertEqual(try GGUFWeights(path: path, dequantizedDType: .bf16).tensor("double_blocks.0.img_attn.qkv.weight").dtype, .bf16)
        // A truncated GGUF given as --dit: the error names the file and the problem.
        let bad = NSTemporaryDirectory() + "/majicflux-bad-\(UUID().uuidString).gguf"
        defer { unlink(bad) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try FluxPipeline(files: FluxModelFiles.resolve(modelDir: Self.dir, dit: bad)).generate(request())) {
            XCTAssertTrue("\($0)".contains(bad) && "\($0)".contains("truncated"), "\($0)")
        }
    }
}
