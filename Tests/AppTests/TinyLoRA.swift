import Foundation
import Models
import Tensor
import XCTest

/// LoRA files for the tiny test model, written by the tests: random kohya factors over every block
/// Linear of the tiny DiT (shapes read from its checkpoint) and CLIP's layer-0 q projection, as
/// Tests/ModelsTests/LoRAApplicationTests.swift's `tinyLoRA` makes them.
enum TinyLoRA {
    static let dit = TestConsole.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-flux-dit-comfy.safetensors").path
    static let clip = TestConsole.tinyModel + "/text_encoder/model.safetensors"

    /// The metadata of the "outline" LoRA the console tests list: a title and two trigger words.
    static let outlineMetadata = ["modelspec.title": "Tiny Outline", "modelspec.trigger_phrase": "tiny outline, bold lines"]

    /// Writes the LoRA to `path` (a `.safetensors` file).
    static func write(to path: String, rank: Int = 4, magnitude: Float = 0.3, seed: UInt64 = 3,
                      metadata: [String: String] = [:]) throws {
        var tensors: [(String, Tensor)] = []
        var s = seed
        func pair(_ module: String, in i: Int, out o: Int) {
            tensors.append(("\(module).lora_down.weight", TorchGenerator(seed: s).randn([rank, i]) * magnitude))
            tensors.append(("\(module).lora_up.weight", TorchGenerator(seed: s + 1).randn([o, rank]) * magnitude))
            tensors.append(("\(module).alpha", Tensor([Float(rank)], shape: [])))
            s += 2
        }
        let file = try SafeTensorsFile(path: dit)
        var found = 0
        for info in file.tensorInfos.sorted(by: { $0.name < $1.name }) where info.shape.count == 2 && info.name.hasSuffix(".weight") {
            guard let start = info.name.range(of: "double_blocks.") ?? info.name.range(of: "single_blocks.") else { continue }
            let layer = info.name[start.lowerBound...].dropLast(".weight".count)
            pair("lora_unet_" + layer.replacingOccurrences(of: ".", with: "_"), in: info.shape[1], out: info.shape[0])
            found += 1
        }
        XCTAssertGreaterThan(found, 0, "the tiny DiT has block Linears")
        let text = try SafeTensorsFile(path: clip)
        let q = try XCTUnwrap(text.tensorInfos.first { $0.name.hasSuffix("encoder.layers.0.self_attn.q_proj.weight") })
        pair("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", in: q.shape[1], out: q.shape[0])
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    /// A LoRA file whose keys name no layer of a Flux model (listed, since it holds LoRA factors, but
    /// refused when a job loads it).
    static func writeUnmapped(to path: String) throws {
        try SafeTensorsWriter.write([("lora_unet_nonsense_block_qkv.lora_down.weight", TorchGenerator(seed: 1).randn([2, 4])),
                                     ("lora_unet_nonsense_block_qkv.lora_up.weight", TorchGenerator(seed: 2).randn([4, 2]))], to: path)
    }

    /// A1111's short hash of a LoRA file, computed apart from the library: `sha256sum` of everything
    /// after the safetensors header, first 12 hex digits.
    static func shortHash(_ path: String) throws -> String {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        let body = FileManager.default.temporaryDirectory.appendingPathComponent("lora-body-\(UUID().uuidString)")
        try bytes[(8 + n)...].write(to: body)
        defer { try? FileManager.default.removeItem(at: body) }
        return String(try sha256sum(body.path).prefix(12))
    }

    /// coreutils' `sha256sum` of a file (64 hex digits): a SHA-256 computed apart from the library.
    static func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }

    /// A fresh folder holding `outline.safetensors` (with `outlineMetadata`).
    static func folderWithOutline() throws -> String {
        let dir = TestConsole.freshOutputDirectory() + "-loras"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try write(to: dir + "/outline.safetensors", metadata: outlineMetadata)
        return dir
    }
}
