import Foundation
import XCTest

/// Copies of the tiny model for preset tests, removed on deinit: the FLUX.1-dev style original or a
/// schnell variant (the DiT's guidance embedder dropped from its header, `guidance_embeds` false),
/// with `vae/config.json`'s sample_size set to `sampleSize` (the original's 32 is below the 64 a
/// size hint may be, so it would default to 1024).
final class PresetModelCopy {
    let dir: String

    init(schnell: Bool, sampleSize: Int = 64) throws {
        dir = FileManager.default.temporaryDirectory.path + "/majicflux-preset-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: TestConsole.tinyModel, toPath: dir)
        try replace(#""sample_size": 32"#, by: "\"sample_size\": \(sampleSize)", in: "vae/config.json")
        guard schnell else { return }
        try replace(#""guidance_embeds": true"#, by: #""guidance_embeds": false"#, in: "transformer/config.json")
        // Tensors may leave gaps in a safetensors file: dropping names from the header is enough.
        let weights = dir + "/transformer/diffusion_pytorch_model.safetensors"
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: weights)))
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        var header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let dropped = header.keys.filter { $0.contains("guidance_embedder") }
        XCTAssertFalse(dropped.isEmpty, "the tiny DiT has a guidance embedder to drop")
        for key in dropped { header[key] = nil }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) }
        try Data(prefix + json + bytes[(8 + n)...]).write(to: URL(fileURLWithPath: weights))
    }

    private func replace(_ old: String, by new: String, in relative: String) throws {
        let path = dir + "/" + relative
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains(old), "\(relative) holds \(old)")
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }
}
