import Foundation
import XCTest

/// Copies of the tiny model for preset tests: the FLUX.1-dev style original, or a schnell variant
/// (the DiT's guidance embedder dropped from its header, `guidance_embeds` false), removed on deinit.
final class PresetModelCopy {
    let dir: String

    init(schnell: Bool) throws {
        dir = FileManager.default.temporaryDirectory.path + "/majicflux-preset-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: TestConsole.tinyModel, toPath: dir)
        guard schnell else { return }
        let config = dir + "/transformer/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: #""guidance_embeds": true"#, with: #""guidance_embeds": false"#)
            .write(toFile: config, atomically: true, encoding: .utf8)
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

    deinit { try? FileManager.default.removeItem(atPath: dir) }
}
