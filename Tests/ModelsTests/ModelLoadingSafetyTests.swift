import Foundation
import XCTest
import Models
import Tensor

/// A model folder as a user might have it, broken in the ways issue #23 found: every case is an
/// error that names the file (and the key or tensor), or a warning saying what was used instead,
/// never a trap, a hang or a silently wrong picture.
final class ModelLoadingSafetyTests: XCTestCase {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"

    /// Asserts `body` throws (within a deadline) an error whose text contains every one of `parts`.
    func assertError(_ label: String, _ parts: [String], line: UInt = #line, _ body: @escaping () throws -> Void) {
        switch withDeadline(30, label, line: line, body) {
        case .success?: XCTFail("\(label): no error", line: line)
        case .failure(let e)?:
            for p in parts { XCTAssertTrue("\(e)".contains(p), "\(label): '\(p)' missing from: \(e)", line: line) }
        case nil: break
        }
    }

    /// The DiT's config is inferred from tensor shapes: a tensor of the wrong rank (same bytes) used
    /// to index past its shape.
    func testWrongRankTensorsForConfigInferenceAreAnError() throws {
        let file = "transformer/diffusion_pytorch_model.safetensors"
        for (tensor, shape, canonical) in [("x_embedder.weight", [2048], "img_in.weight"),
                                           ("context_embedder.weight", [1024], "txt_in.weight"),
                                           ("context_embedder.weight", [1, 32, 32], "txt_in.weight"),
                                           ("proj_out.weight", [2048], "final_layer.linear.weight"),
                                           ("time_text_embed.text_embedder.linear_1.weight", [512], "vector_in.in_layer.weight"),
                                           ("transformer_blocks.0.attn.norm_q.weight", [4, 4], "query_norm.scale"),
                                           ("transformer_blocks.0.ff.net.0.proj.weight", [4096], "img_mlp.0.weight")] {
            let model = try TinyModelCopy()
            try model.editHeader(file) { h in
                var entry = h[tensor] as! [String: Any]
                entry["shape"] = shape
                h[tensor] = entry
            }
            assertError("\(tensor) \(shape)", [model.path("transformer"), canonical, "\(shape)"]) { _ = try model.generate() }
        }
        // A BFL single file given with --dit.
        let model = try TinyModelCopy()
        let dit = model.path("dit.safetensors")
        try FileManager.default.copyItem(atPath: Self.fixtures + "/tiny-flux-dit-comfy.safetensors", toPath: dit)
        try model.editHeader("dit.safetensors") { h in
            var entry = h["model.diffusion_model.img_in.weight"] as! [String: Any]
            entry["shape"] = [2048]
            h["model.diffusion_model.img_in.weight"] = entry
        }
        assertError("--dit img_in.weight [2048]", [dit, "img_in.weight", "expected 2 dimensions"]) {
            let files = try FluxModelFiles.resolve(modelDir: model.dir, dit: dit)
            _ = try files.estimateMemory(precision: .bf16, request: MemoryRequest(width: 32, height: 32, sequenceLength: 16))
        }
    }

    /// A component in the wrong place says what it looks like and names the file: a LoRA as the DiT,
    /// the T5 file (with the T5 config beside it) as CLIP, and CLIP's weights without a config as T5.
    /// A tensor missing from a diffusers file is named as the file names it too.
    /// A single-file DiT given as the model folder (the usual mistake with majicflus_v134.safetensors)
    /// says it is a file and where it goes; it said "missing model folder" of a file that is there.
    func testAFileAsTheModelFolderSaysWhereItGoes() {
        let file = Self.fixtures + "/tiny-flux-dit-comfy.safetensors"
        assertError("DiT file as --model", ["\(file) is a file, not a folder", "--dit FILE"]) {
            _ = try FluxModelFiles.resolve(modelDir: file)
        }
        assertError("no such folder", ["missing model folder: /no/such/folder"]) { _ = try FluxModelFiles.resolve(modelDir: "/no/such/folder") }
        // Missing parts name the folder first and end with the last part (the folder trailed the list).
        let folder = Self.fixtures + "/tiny-flux"
        assertError("missing --dit", ["missing parts of the model (folder \(folder)):", "DiT file given with --dit (looked for /no/such.safetensors)"]) {
            let e = Result { try FluxModelFiles.resolve(modelDir: folder, dit: "/no/such.safetensors") }
            if case .failure(let error) = e { XCTAssertTrue("\(error)".hasSuffix("(looked for /no/such.safetensors)"), "\(error)") }
            _ = try e.get()
        }
    }

    func testAComponentInTheWrongPlaceSaysWhatItIs() throws {
        let model = try TinyModelCopy()
        let lora = Self.fixtures + "/lora/kohya.safetensors"
        assertError("LoRA as --dit", [lora, "looks like a LoRA"]) {
            let files = try FluxModelFiles.resolve(modelDir: model.dir, dit: lora)
            _ = try files.estimateMemory(precision: .bf16, request: MemoryRequest(width: 32, height: 32, sequenceLength: 16))
        }
        let t5 = model.path("text_encoder_2/model.safetensors")
        assertError("T5 as --text-encoder", ["text_encoder_2/config.json", "model_type \"t5\" is not a CLIP text encoder's config"]) {
            _ = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir, overrides: .init(clip: t5)))
                .generate(GenerationRequest(prompt: "x", seed: 1, steps: 1, width: 32, height: 32))
        }
        let loose = model.path("clip-alone.safetensors")
        try FileManager.default.copyItem(atPath: model.path("text_encoder/model.safetensors"), toPath: loose)
        assertError("CLIP without a config as T5", ["looks like a CLIP text encoder"]) {
            _ = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir, overrides: .init(t5: loose)))
                .generate(GenerationRequest(prompt: "x", seed: 1, steps: 1, width: 32, height: 32))
        }
        try model.editHeader("transformer/diffusion_pytorch_model.safetensors") { h in h["norm_out.linear.weight"] = nil }
        assertError("diffusers DiT without norm_out.linear.weight", ["final_layer.adaLN_modulation.1.weight", "(in the file: norm_out.linear.weight)"]) {
            _ = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir))
                .generate(GenerationRequest(prompt: "x", seed: 1, steps: 1, width: 32, height: 32))
        }
    }

    /// Opening a FIFO for reading blocks until a writer comes: checkpoints and configs that are FIFOs
    /// are refused at once.
    func testFIFOsInTheModelFolderAreRefusedWithoutBlocking() throws {
        for file in ["transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                     "text_encoder_2/model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                     "text_encoder/config.json", "text_encoder_2/config.json", "transformer/config.json",
                     "vae/config.json", "scheduler/scheduler_config.json",
                     "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer_2/tokenizer.json"] {
            let model = try TinyModelCopy()
            try model.replaceByFIFO(file)
            assertError("FIFO \(file)", [model.path(file), "FIFO"]) { _ = try model.generate() }
        }
    }

    /// Two tensors over the same bytes (or overlapping ones) are a corrupt checkpoint in every reader.
    func testAliasedTensorsInACheckpointAreRefused() throws {
        let model = try TinyModelCopy()
        let file = "text_encoder/model.safetensors"
        try model.editHeader(file) { h in
            let q = (h["encoder.layers.0.self_attn.q_proj.weight"] as! [String: Any])["data_offsets"]!
            var k = h["encoder.layers.0.self_attn.k_proj.weight"] as! [String: Any]
            k["data_offsets"] = q
            h["encoder.layers.0.self_attn.k_proj.weight"] = k
        }
        assertError("aliased q/k", [model.path(file), "same bytes"]) { _ = try model.generate() }
        assertError("aliased q/k through CheckpointWeights", [model.path(file), "same bytes"]) {
            _ = try CheckpointWeights(path: model.path(file))
        }
    }

    /// A schedule whose sigmas are not numbers decodes to a black picture: an error instead.
    func testSchedulesThatWouldGiveABlackPictureAreAnError() throws {
        let file = "scheduler/scheduler_config.json"
        let model = try TinyModelCopy()
        let original = try model.text(file)
        try model.write(file, TinyModelCopy.setting("max_image_seq_len", to: "256", in: original))
        assertError("base == max image_seq_len", [model.path(file), "max_image_seq_len", "base_image_seq_len"]) { _ = try model.generate() }
        var text = TinyModelCopy.setting("use_dynamic_shifting", to: "false", in: original)
        try model.write(file, TinyModelCopy.setting("shift", to: "1e308", in: text))
        assertError("static shift 1e308", [model.path(file), "shift"]) { _ = try model.generate() }
        // Within bounds, but extrapolated to 64 image tokens e^mu overflows float32.
        text = TinyModelCopy.setting("base_image_seq_len", to: "1", in: original)
        text = TinyModelCopy.setting("max_image_seq_len", to: "2", in: text)
        text = TinyModelCopy.setting("base_shift", to: "-10", in: text)
        try model.write(file, TinyModelCopy.setting("max_shift", to: "10", in: text))
        assertError("extrapolated mu", [model.path(file), "outside [0, 1]", "64 image tokens"]) {
            let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir))
            _ = try pipeline.generate(GenerationRequest(prompt: "a cat", seed: 1, steps: 2, width: 128, height: 128))
        }
        // The same config draws at 32x32 (4 tokens: e^mu is finite).
        let image = try model.generate()
        XCTAssertTrue(image.rgb.contains { $0 != 0 })
    }

    /// CLIP encodes 77 tokens: fewer position embeddings used to trap inside the model.
    func testCLIPWithFewerThan77PositionsIsAnError() throws {
        let model = try TinyModelCopy()
        try model.set("max_position_embeddings", to: "10", in: "text_encoder/config.json")
        assertError("max_position_embeddings 10", [model.path("text_encoder/config.json"), "max_position_embeddings", "77"]) {
            _ = try model.generate()
        }
    }

    /// `vae/config.json`'s sample_size and `tokenizer_2`'s model_max_length only suggest defaults:
    /// an unusable value gives the default and a warning naming the file, the key and the value.
    func testUnusableSizeHintsAreWarnedAboutNotSilentlyReplaced() throws {
        let model = try TinyModelCopy()
        let vae = "vae/config.json", tok = "tokenizer_2/tokenizer_config.json"
        func pipeline() throws -> FluxPipeline { try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir)) }
        for (value, size) in [("17", 1024), ("-5", 1024), ("1e18", 1024), ("\"big\"", 1024), ("256", 256)] {
            try model.set("sample_size", to: value, in: vae)
            let p = try pipeline()
            XCTAssertEqual(p.preferredImageSize, size, value)
            let warned = p.warnings.contains { $0.contains(model.path(vae)) && $0.contains("sample_size") && $0.contains("1024") }
            XCTAssertEqual(warned, size == 1024, "sample_size \(value): \(p.warnings)")
        }
        try model.set("sample_size", to: "256", in: vae)
        for (value, length) in [("1e18", 512), ("1000000000000000000", 512), ("-5", 512), ("0", 512), ("2.5", 512),
                                ("\"x\"", 512), ("1000000000000000019884624838656", 512), ("77", 77)] {
            try model.set("model_max_length", to: value, in: tok)
            let p = try pipeline()
            XCTAssertEqual(p.preferredSequenceLength, length, value)
            let warning = p.warnings.first { $0.contains("model_max_length") }
            if value == "77" || value.hasPrefix("1000000000000000019") {
                XCTAssertNil(warning, "\(value) is a usable length or transformers' 'no limit'")
            } else {
                XCTAssertTrue(warning?.contains(model.path(tok)) == true && warning?.contains("512") == true, "\(value): \(p.warnings)")
            }
        }
    }

    /// Parts of different models (a DiT made for 64-wide text states with a 32-wide T5) used to trap
    /// in a matrix product.
    func testTextEncodersThatDoNotFitTheDiTAreAnError() throws {
        let model = try TinyModelCopy()
        assertError("tiny-models DiT with tiny-flux encoders", ["joint_attention_dim", "do not belong together"]) {
            let files = try FluxModelFiles.resolve(modelDir: model.dir, dit: Self.fixtures + "/tiny-models/transformer")
            var r = GenerationRequest(prompt: "a cat", seed: 1, steps: 1, width: 32, height: 32)
            r.maxSequenceLength = 16
            _ = try FluxPipeline(files: files).generate(r)
        }
    }

    /// The VAE loads last, after the steps: a wrong VAE file (here the DiT's) or one for other
    /// latents is refused before anything runs, not after the last step.
    func testAWrongVAEFileIsRefusedBeforeTheSteps() throws {
        let model = try TinyModelCopy()
        var r = GenerationRequest(prompt: "a cat", seed: 1, steps: 2, width: 32, height: 32)
        r.maxSequenceLength = 16
        var overrides = FluxModelFiles.Overrides()
        overrides.vae = model.dir + "/transformer"
        let files = try FluxModelFiles.resolve(modelDir: model.dir, overrides: overrides)
        let pipeline = try FluxPipeline(files: files)
        var stages: [GenerationProgress.Stage] = []
        assertError("the DiT's file as the VAE", ["vae", "no VAE decoder found"]) {
            _ = try pipeline.generate(r) { stages.append($0.stage); return true }
        }
        XCTAssertEqual(stages, [], "refused before the text encoders ran")
        XCTAssertEqual(pipeline.lastTimings.stepCount, 0)
        // The right file still works with the same pipeline options.
        XCTAssertNoThrow(try FluxPipeline(files: FluxModelFiles.resolve(modelDir: model.dir)).generate(r))
    }
}
