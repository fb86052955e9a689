import Foundation
import XCTest
import Models
import Tensor

/// Every value a config file of a model folder gives is checked before it sizes a loop, an
/// allocation or a division. Each numeric key of the tiny model's configs is set in turn to nasty
/// values; loading and generating must then either work (where the value is legitimate) or throw an
/// error naming the file and the key, never trap, hang or produce a black picture.
final class ConfigFuzzTests: XCTestCase {
    /// 0, negatives, huge integers (also written as exponents), 1e308, a string and a fraction.
    static let nasty = ["0", "-1", "-5", "1e9", "1000000000", "1e18", "1000000000000000000", "1e308", "\"x\"", "2.5"]

    /// (config file, key, values with which the model legitimately loads)
    static let keys: [(file: String, key: String, valid: Set<String>)] = [
        ("text_encoder/config.json", "vocab_size", []),
        ("text_encoder/config.json", "hidden_size", []),
        ("text_encoder/config.json", "intermediate_size", []),
        ("text_encoder/config.json", "num_hidden_layers", []),
        ("text_encoder/config.json", "num_attention_heads", []),
        ("text_encoder/config.json", "max_position_embeddings", []),
        ("text_encoder/config.json", "layer_norm_eps", ["0"]),
        ("text_encoder/config.json", "eos_token_id", ["0"]),
        ("text_encoder_2/config.json", "vocab_size", []),
        ("text_encoder_2/config.json", "d_model", []),
        ("text_encoder_2/config.json", "d_kv", []),
        ("text_encoder_2/config.json", "d_ff", []),
        ("text_encoder_2/config.json", "num_heads", []),
        ("text_encoder_2/config.json", "num_layers", []),
        ("text_encoder_2/config.json", "relative_attention_num_buckets", []),
        ("text_encoder_2/config.json", "relative_attention_max_distance", []),
        ("text_encoder_2/config.json", "layer_norm_epsilon", ["0"]),
        // The DiT's sizes come from its weights; its config.json is still checked whole.
        ("transformer/config.json", "in_channels", []),
        ("transformer/config.json", "out_channels", []),
        ("transformer/config.json", "num_layers", ["0"]),
        ("transformer/config.json", "num_single_layers", ["0"]),
        ("transformer/config.json", "attention_head_dim", []),
        ("transformer/config.json", "num_attention_heads", []),
        ("transformer/config.json", "joint_attention_dim", []),
        ("transformer/config.json", "pooled_projection_dim", []),
        ("transformer/config.json", "mlp_ratio", ["2.5"]),
        ("transformer/config.json", "rope_theta", ["2.5", "1e9", "1000000000"]),
        ("vae/config.json", "in_channels", []),
        ("vae/config.json", "out_channels", []),
        ("vae/config.json", "latent_channels", []),
        ("vae/config.json", "layers_per_block", []),
        ("vae/config.json", "norm_num_groups", []),
        ("vae/config.json", "scaling_factor", ["2.5"]),
        ("vae/config.json", "shift_factor", ["0", "-1", "-5", "2.5"]),
        ("scheduler/scheduler_config.json", "num_train_timesteps", []),
        ("scheduler/scheduler_config.json", "shift", ["2.5"]),
        ("scheduler/scheduler_config.json", "base_shift", ["0", "-1", "-5", "2.5"]),
        ("scheduler/scheduler_config.json", "max_shift", ["0", "-1", "-5", "2.5"]),
        ("scheduler/scheduler_config.json", "base_image_seq_len", []),
        ("scheduler/scheduler_config.json", "max_image_seq_len", []),
    ]

    /// Array-valued keys: empty, out of bounds, not divisible, wrong element type.
    static let arrays: [(file: String, key: String, values: [String])] = [
        ("vae/config.json", "block_out_channels", ["[]", "[8, 16, 16, -16]", "[0, 16, 16, 16]", "[8, 16, 16, 1e18]",
                                                   "[8, 16, 16, 18]", "[8, 16, 16, 16, 16, 16, 16, 16, 16]", "[\"x\"]", "16"]),
        ("transformer/config.json", "axes_dims_rope", ["[]", "[4, 6, 7]", "[-4, 10, 10]", "[1e18, 1e18]",
                                                       "[9223372036854775807, 9223372036854775807]", "[16, 2, 0]", "4"]),
    ]

    /// Runs one mutation; returns a failure message, nil when the outcome is acceptable.
    func check(_ model: TinyModelCopy, _ file: String, _ key: String, _ literal: String, valid: Bool,
               pipeline: FluxPipeline?) -> String? {
        let label = "\(file) \(key) = \(literal)"
        guard let result = withDeadline(60, label, { try model.generate(pipeline) }) else { return "\(label): hang" }
        switch result {
        case .success(let image):
            guard valid else { return "\(label): loaded and generated, expected an error naming the key" }
            return image.rgb.contains { $0 != 0 } ? nil : "\(label): the picture is all black"
        case .failure(let error):
            let message = "\(error)"
            if valid { return "\(label): a legitimate value was refused: \(message)" }
            guard message.contains(model.path(file)) || message.contains(file) else { return "\(label): error does not name the file: \(message)" }
            guard message.contains(key) else { return "\(label): error does not name the key: \(message)" }
            return nil
        }
    }

    func testEveryNumericConfigKeyRejectsNastyValuesByName() throws {
        let model = try TinyModelCopy()
        // Stage configs are read each time a stage loads: one pipeline serves all of them.
        let shared = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir))
        var failures: [String] = [], runs = 0
        for (file, key, valid) in Self.keys {
            let original = try model.text(file)
            // Scheduler and tokenizer configs are read when the pipeline is made.
            let perRun = file.hasPrefix("scheduler/") || file.hasPrefix("tokenizer")
            for literal in Self.nasty {
                try model.write(file, TinyModelCopy.setting(key, to: literal, in: original))
                if let f = check(model, file, key, literal, valid: valid.contains(literal), pipeline: perRun ? nil : shared) { failures.append(f) }
                runs += 1
            }
            try model.write(file, original)
        }
        for (file, key, values) in Self.arrays {
            let original = try model.text(file)
            for literal in values {
                try model.write(file, TinyModelCopy.setting(key, to: literal, in: original))
                if let f = check(model, file, key, literal, valid: false, pipeline: shared) { failures.append(f) }
                runs += 1
            }
            try model.write(file, original)
        }
        XCTAssertNoThrow(try model.generate(shared), "the restored folder loads again")
        XCTAssertEqual(failures, [], "\(failures.count) of \(runs) mutations:\n" + failures.joined(separator: "\n"))
        XCTAssertGreaterThan(runs, 400)
    }

    /// The DiT's RoPE axes cannot be read from its weights: a folder without transformer/config.json
    /// whose head size is not FLUX.1's 128, or a config whose head size does not fit the weights, is
    /// refused by name. Both used to run with guessed axes: another picture, without a word.
    func testTransformerConfigMissingOrForeignIsRefused() throws {
        let model = try TinyModelCopy()
        let original = try model.text("transformer/config.json")
        try FileManager.default.removeItem(atPath: model.path("transformer/config.json"))
        XCTAssertThrowsError(try model.generate()) { error in
            XCTAssertTrue("\(error)".contains("axes_dims_rope") && "\(error)".contains("head size 16"), "\(error)")
        }
        // Valid on its own (axes sum to the head size), not for these weights.
        try model.write("transformer/config.json", TinyModelCopy.setting("axes_dims_rope", to: "[8, 12, 12]",
                                                                          in: TinyModelCopy.setting("attention_head_dim", to: "32", in: original)))
        XCTAssertThrowsError(try model.generate()) { error in
            XCTAssertTrue("\(error)".contains("belongs to another model") && "\(error)".contains("attention_head_dim 32"), "\(error)")
        }
        try model.write("transformer/config.json", original)
        XCTAssertNoThrow(try model.generate())
    }

    /// `extra_ids` of a SentencePiece-only T5 tokenizer adds that many vocabulary entries: bounded,
    /// and anything but an integer in 0...10000 is an error naming the file and the key.
    func testT5ExtraIDsAreBounded() throws {
        let model = try TinyModelCopy()
        try FileManager.default.removeItem(atPath: model.path("tokenizer_2/tokenizer.json"))
        let file = "tokenizer_2/tokenizer_config.json"
        let original = try model.text(file)
        for literal in Self.nasty {
            try model.write(file, TinyModelCopy.setting("extra_ids", to: literal, in: original))
            let outcome = withDeadline(20, "extra_ids \(literal)") { try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir)) }
            switch outcome {
            case .success?: XCTAssertEqual(literal, "0", "extra_ids \(literal) was accepted")
            case .failure(let e)?:
                XCTAssertNotEqual(literal, "0", "\(e)")
                XCTAssertTrue("\(e)".contains(model.path(file)) && "\(e)".contains("extra_ids"), "\(e)")
            case nil: break
            }
        }
    }
}
