import XCTest
import Models
import Tensor

/// LoRA files: every format's keys land on our layers, and every kind of bad file is refused by name.
final class LoRAFormatTests: XCTestCase {
    /// Writes `tensors` as a safetensors file in a temp folder and reads it as a LoRA.
    static func write(_ tensors: [(String, Tensor)], name: String = "test", metadata: [String: String] = [:]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name + ".safetensors").path
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
        return path
    }

    static func pair(_ module: String, down: String = "lora_down.weight", up: String = "lora_up.weight",
                     rank: Int = 2, in i: Int = 4, out o: Int = 4, seed: UInt64 = 1) -> [(String, Tensor)] {
        [("\(module).\(down)", TorchGenerator(seed: seed).randn([rank, i])), ("\(module).\(up)", TorchGenerator(seed: seed + 1).randn([o, rank]))]
    }

    func layers(_ keys: [String], down: String = "lora_down.weight", up: String = "lora_up.weight") throws -> [String] {
        let lora = try LoRA(contentsOf: Self.write(keys.flatMap { Self.pair($0, down: down, up: up) }))
        return lora.patches.map(\.layer)
    }

    func testKohyaKeysMapToBFLLayersAndCLIP() throws {
        XCTAssertEqual(try layers(["lora_unet_double_blocks_0_img_attn_qkv", "lora_unet_double_blocks_12_txt_mlp_2",
                                   "lora_unet_single_blocks_3_linear1", "lora_unet_single_blocks_37_modulation_lin",
                                   "lora_unet_double_blocks_1_img_mod_lin", "lora_unet_final_layer_adaLN_modulation_1",
                                   "lora_unet_time_in_in_layer", "lora_te1_text_model_encoder_layers_0_self_attn_q_proj",
                                   "lora_te1_text_model_encoder_layers_11_mlp_fc2"]),
                       ["double_blocks.0.img_attn.qkv", "double_blocks.12.txt_mlp.2", "single_blocks.3.linear1",
                        "single_blocks.37.modulation.lin", "double_blocks.1.img_mod.lin", "final_layer.adaLN_modulation.1",
                        "time_in.in_layer", "text_model.encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.11.mlp.fc2"])
        // kohya files written from diffusers names (ai-toolkit's `lora_transformer_`).
        XCTAssertEqual(try layers(["lora_transformer_single_transformer_blocks_2_proj_mlp", "lora_transformer_transformer_blocks_0_attn_add_k_proj"]),
                       ["single_blocks.2.linear1", "double_blocks.0.txt_attn.qkv"])
    }

    func testDiffusersKeysMapOntoFusedSlicesWithOrWithoutPrefix() throws {
        let l = try LoRA(contentsOf: Self.write(
            Self.pair("transformer.transformer_blocks.0.attn.to_k", down: "lora_A.weight", up: "lora_B.weight")
            + Self.pair("single_transformer_blocks.1.proj_mlp", down: "lora_A.weight", up: "lora_B.weight", out: 16)
            + Self.pair("transformer.norm_out.linear", down: "lora_A.weight", up: "lora_B.weight", out: 8)
            + Self.pair("transformer.transformer_blocks.0.norm1_context.linear", down: "lora_A.weight", up: "lora_B.weight", out: 24)
            + Self.pair("text_encoder.text_model.encoder.layers.1.self_attn.out_proj", down: "lora_A.weight", up: "lora_B.weight")))
        XCTAssertEqual(l.patches.map(\.layer), ["double_blocks.0.img_attn.qkv", "single_blocks.1.linear1", "final_layer.adaLN_modulation.1",
                                                "double_blocks.0.txt_mod.lin", "text_model.encoder.layers.1.self_attn.out_proj"])
        XCTAssertEqual(l.formats, [.diffusers])
        XCTAssertEqual(l.components, [.transformer, .clip])
        // diffusers' norm_out.linear is (scale, shift); BFL's adaLN_modulation.1 is (shift, scale).
        let raw = TorchGenerator(seed: 2).randn([8, 2]).floats(), up = l.patches[2].up.floats()
        XCTAssertEqual(Array(up[0..<8]), Array(raw[8..<16]))
        XCTAssertEqual(Array(up[8..<16]), Array(raw[0..<8]))
    }

    func testXLabsAndComfyKeys() throws {
        XCTAssertEqual(try layers(["double_blocks.0.processor.qkv_lora1", "double_blocks.0.processor.proj_lora2",
                                   "single_blocks.4.processor.qkv_lora"], down: "down.weight", up: "up.weight"),
                       ["double_blocks.0.img_attn.qkv", "double_blocks.0.txt_attn.proj", "single_blocks.4.linear1"])
        XCTAssertEqual(try layers(["diffusion_model.double_blocks.0.img_attn.qkv", "diffusion_model.single_blocks.2.linear2"],
                                  down: "lora_A.weight", up: "lora_B.weight"),
                       ["double_blocks.0.img_attn.qkv", "single_blocks.2.linear2"])
    }

    func testAlphaSetsTheScale() throws {
        let path = try Self.write(Self.pair("lora_unet_single_blocks_0_linear2", rank: 4) + [("lora_unet_single_blocks_0_linear2.alpha", Tensor([2], shape: []))])
        XCTAssertEqual(try LoRA(contentsOf: path).patches[0].scale, 0.5)
        XCTAssertEqual(try LoRA(contentsOf: Self.write(Self.pair("lora_unet_single_blocks_0_linear2", rank: 4))).patches[0].scale, 1)
    }

    func testUnknownKeysAreListedNotIgnored() throws {
        let path = try Self.write(Self.pair("lora_unet_double_blocks_0_img_attn_qkv") + Self.pair("lora_unet_input_blocks_1_proj")
                                  + [("some_other.weight", Tensor([1], shape: [1]))])
        XCTAssertThrowsError(try LoRA(contentsOf: path)) { error in
            guard case LoRAError.unmappedKeys(_, let keys, let total) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(total, 3)
            XCTAssertTrue(keys.contains("some_other.weight"))
            XCTAssertTrue(keys.contains("lora_unet_input_blocks_1_proj.lora_down.weight"))
            XCTAssertTrue("\(error)".contains("match no layer"))
        }
    }

    func testLyCORISDoRAAndBrokenPairsAreRefusedByName() throws {
        let lokr = try Self.write([("lycoris_double_blocks_0_img_attn_qkv.lokr_w1", Tensor.zeros([2, 2])),
                                   ("lycoris_double_blocks_0_img_attn_qkv.lokr_w2", Tensor.zeros([2, 2]))])
        XCTAssertThrowsError(try LoRA(contentsOf: lokr)) { XCTAssertTrue("\($0)".contains("LyCORIS LoKr"), "\($0)") }
        let loha = try Self.write([("lora_unet_single_blocks_0_linear1.hada_w1_a", Tensor.zeros([2, 2]))])
        XCTAssertThrowsError(try LoRA(contentsOf: loha)) { XCTAssertTrue("\($0)".contains("LyCORIS LoHa"), "\($0)") }
        let dora = try Self.write(Self.pair("lora_unet_single_blocks_0_linear1") + [("lora_unet_single_blocks_0_linear1.dora_scale", Tensor.zeros([1, 4]))])
        XCTAssertThrowsError(try LoRA(contentsOf: dora)) { XCTAssertTrue("\($0)".contains("DoRA"), "\($0)") }
        let noUp = try Self.write([("lora_unet_single_blocks_0_linear1.lora_down.weight", Tensor.zeros([2, 4]))])
        XCTAssertThrowsError(try LoRA(contentsOf: noUp)) { XCTAssertTrue("\($0)".contains("no up factor"), "\($0)") }
        let ranks = try Self.write([("lora_unet_single_blocks_0_linear1.lora_down.weight", Tensor.zeros([2, 4])),
                                    ("lora_unet_single_blocks_0_linear1.lora_up.weight", Tensor.zeros([4, 3]))])
        XCTAssertThrowsError(try LoRA(contentsOf: ranks)) { XCTAssertTrue("\($0)".contains("ranks differ"), "\($0)") }
        let conv = try Self.write([("lora_unet_single_blocks_0_linear1.lora_down.weight", Tensor.zeros([2, 4, 1, 1])),
                                   ("lora_unet_single_blocks_0_linear1.lora_up.weight", Tensor.zeros([4, 2, 1, 1]))])
        XCTAssertThrowsError(try LoRA(contentsOf: conv)) { XCTAssertTrue("\($0)".contains("convolution"), "\($0)") }
        // NaN or infinite factors would paint a black picture: refused, naming the factor.
        for bad: Float in [.nan, .infinity] {
            let broken = try Self.write([("lora_unet_single_blocks_0_linear1.lora_down.weight", Tensor([1, 2, bad, 4, 5, 6, 7, 8], shape: [2, 4])),
                                         ("lora_unet_single_blocks_0_linear1.lora_up.weight", Tensor.zeros([4, 2]))])
            XCTAssertThrowsError(try LoRA(contentsOf: broken)) {
                XCTAssertTrue("\($0)".contains("not finite") && "\($0)".contains("lora_down"), "\($0)")
            }
        }
        let alphaOnly = try Self.write([("lora_unet_single_blocks_0_linear1.alpha", Tensor([1], shape: []))])
        XCTAssertThrowsError(try LoRA(contentsOf: alphaOnly))
        let corrupt = try Self.write([])
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: corrupt))
        XCTAssertThrowsError(try LoRA(contentsOf: corrupt))
    }

    func testMetadataGivesTitleTriggerWordsAndA1111Hash() throws {
        let path = try Self.write(Self.pair("lora_unet_single_blocks_0_linear1"), name: "my style",
                                  metadata: ["modelspec.title": "Outline", "modelspec.trigger_phrase": "ol style, thick lines"])
        let l = try LoRA(contentsOf: path)
        XCTAssertEqual(l.name, "my style")
        XCTAssertEqual(l.title, "Outline")
        XCTAssertEqual(l.triggerWords, ["ol style", "thick lines"])
        let tags = try LoRA(contentsOf: Self.write(Self.pair("lora_unet_single_blocks_0_linear1", seed: 9),
                                                   metadata: ["ss_tag_frequency": #"{"a": {"cat": 3, "dog": 9}, "b": {"cat": 7}}"#]))
        XCTAssertEqual(tags.triggerWords, ["cat", "dog"])
        // sd-scripts' addnet hash of the data after the header (hashlib's values: LoRAParityTests).
        XCTAssertEqual(l.shortHash?.count, 12)
        XCTAssertNotEqual(l.shortHash, tags.shortHash)
    }
}
