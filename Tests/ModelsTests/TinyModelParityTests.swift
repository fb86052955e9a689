import XCTest
import Tensor
import Models

/// Tiny random-weight models made by transformers/diffusers (Tools/make_model_fixtures.py) loaded from
/// their real checkpoint layouts, compared with the reference outputs computed by PyTorch in f32.
/// Tolerance: max |ours - ref| <= 1e-4 * max(1, max |ref|) (f32 compute, different summation order).
final class TinyModelParityTests: XCTestCase {
    static let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"
    lazy var reference: WeightSource = try! CheckpointWeights(path: Self.dir + "/reference.safetensors")

    func ref(_ name: String) -> Tensor { try! reference.tensor(name).to(.f32) }

    func assertClose(_ a: Tensor, _ b: Tensor, rel: Float = 1e-4, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let x = a.floats(), y = b.floats()
        let scale = max(1, y.map(abs).max() ?? 0)
        let err = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(err, rel * scale, "\(what): max abs error \(err) (scale \(scale))", file: file, line: line)
    }

    func testCLIPTextModelMatchesTransformers() throws {
        let config = try ConfigFile.load(CLIPTextConfig.self, path: Self.dir + "/clip/config.json", what: "CLIP config")
        let model = try CLIPTextModel(config: config, weights: CheckpointWeights(path: Self.dir + "/clip/model.safetensors"))
        let ids = ref("clip.ids").integers()
        let out = model([Array(ids[0..<77]), Array(ids[77..<154])])
        assertClose(out.hidden, ref("clip.hidden"), "CLIP last hidden state")
        assertClose(out.pooled, ref("clip.pooled"), "CLIP pooled")
        // The transformers 4.x layout (FLUX.1-dev's text_encoder) prefixes every key with text_model.
        let plain = try CheckpointWeights(path: Self.dir + "/clip/model.safetensors")
        let prefixed = MappedWeights(plain, recipes: Dictionary(uniqueKeysWithValues: plain.names.map { ("text_model." + $0, .rename($0)) }))
        let again = try CLIPTextModel(config: config, weights: prefixed)([Array(ids[0..<77])])
        assertClose(again.pooled, ref("clip.pooled").slice(dim: 0, start: 0, end: 1), "CLIP pooled, text_model. layout")
    }

    func testT5EncoderMatchesTransformers() throws {
        let config = try ConfigFile.load(T5Config.self, path: Self.dir + "/t5/config.json", what: "T5 config")
        let model = try T5Encoder(config: config, weights: CheckpointWeights(path: Self.dir + "/t5/model.safetensors"))
        let out = model([ref("t5.ids").integers()])
        assertClose(out, ref("t5.hidden"), "T5 last hidden state")
    }

    func fluxOutput(_ dit: FluxTransformer) -> Tensor {
        dit(img: ref("flux.img"), height: 3, width: 4, txt: ref("flux.txt"), pooled: ref("flux.pooled"),
            timestep: [0.7], guidance: [3.5])
    }

    func testFluxFromDiffusersFolderMatchesDiffusers() throws {
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.dir + "/transformer/diffusion_pytorch_model.safetensors"))
        let config = try ConfigFile.load(FluxConfig.self, path: Self.dir + "/transformer/config.json", what: "Flux config")
        var inferred = try FluxConfig.infer(shape: source.shape(of:), names: source.names, declared: config)
        inferred.outChannels = nil  // config.json leaves it null (= in_channels)
        XCTAssertEqual(inferred, config)
        assertClose(fluxOutput(try FluxTransformer(config: config, weights: source)), ref("flux.out"), "Flux (diffusers layout)")
    }

    func testFluxFromComfyUIFileWithInferredConfigMatchesDiffusers() throws {
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.dir + "/flux-comfy.safetensors"))
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        XCTAssertEqual(config.numLayers, 2)
        XCTAssertEqual(config.numSingleLayers, 2)
        XCTAssertEqual(config.numAttentionHeads, 2)
        XCTAssertEqual(config.axesDimsRope, [4, 14, 14])
        XCTAssertTrue(config.guidanceEmbeds)
        assertClose(fluxOutput(try FluxTransformer(config: config, weights: source)), ref("flux.out"), "Flux (ComfyUI BFL layout)")
    }

    func testFluxReportsMissingAndMisShapedTensorsByName() throws {
        let full = try FluxCheckpointLayout.canonical(CheckpointWeights(path: Self.dir + "/flux-comfy.safetensors"))
        var tensors: [String: Tensor] = [:]
        for n in full.names { tensors[n] = try full.tensor(n) }
        tensors["double_blocks.1.img_mlp.0.weight"] = nil
        tensors["double_blocks.0.img_attn.proj.weight"] = Tensor.zeros([64, 32])
        tensors["stray.weight"] = Tensor.zeros([2])
        let config = try FluxConfig.infer(shape: { tensors[$0]?.shape }, names: Array(tensors.keys))
        XCTAssertThrowsError(try FluxTransformer(config: config, weights: DictionaryWeights(tensors))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing double_blocks.1.img_mlp.0.weight"), text)
            XCTAssertTrue(text.contains("double_blocks.0.img_attn.proj.weight: checkpoint has shape [64, 32], model expects [64, 64]"), text)
            XCTAssertTrue(text.contains("unexpected stray.weight"), text)
        }
    }

    func testVAEFromBothLayoutsMatchesDiffusers() throws {
        let config = try ConfigFile.load(AutoencoderConfig.self, path: Self.dir + "/vae/config.json", what: "VAE config")
        for path in [Self.dir + "/vae/diffusion_pytorch_model.safetensors", Self.dir + "/ae.safetensors"] {
            let source = try VAECheckpointLayout.canonical(CheckpointWeights(path: path), config: config)
            let vae = try AutoencoderKL(config: config, weights: source)
            assertClose(vae.decode(ref("vae.z")), ref("vae.decoded"), "VAE decode \(path)")
            assertClose(try XCTUnwrap(vae.encode(ref("vae.image"))), ref("vae.encoded"), "VAE encode \(path)")
        }
    }

    func testPackUnpackRoundTripAndChannelOrder() {
        let lat = Tensor((0..<(2 * 4 * 6)).map(Float.init), shape: [1, 2, 4, 6])
        let tokens = FluxPacking.pack(lat)
        XCTAssertEqual(tokens.shape, [1, 6, 8])
        // token 0 covers rows 0-1, cols 0-1; channel index c*4 + ph*2 + pw
        XCTAssertEqual(Array(tokens.floats().prefix(8)), [0, 1, 6, 7, 24, 25, 30, 31])
        XCTAssertEqual(FluxPacking.unpack(tokens, height: 4, width: 6).floats(), lat.floats())
    }
}
