import Foundation
import XCTest
import Models

/// The `parameters` PNG text as A1111/Forge read it: their field regex (modules/infotext_utils.py)
/// reimplemented here, the exact field names, values and order.
final class InfotextTests: XCTestCase {
    /// A1111's `re_param`.
    static let fieldPattern = try! NSRegularExpression(pattern: #"\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)"#)

    /// The (name, value) pairs A1111 finds in a line, quoted values unquoted as its `unquote` does.
    static func fields(_ line: String) -> [(String, String)] {
        let ns = line as NSString
        return fieldPattern.matches(in: line, range: NSRange(location: 0, length: ns.length)).map { m in
            var value = ns.substring(with: m.range(at: 2))
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\""),
               let s = try? JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed) as? String {
                value = s
            }
            return (ns.substring(with: m.range(at: 1)), value)
        }
    }

    static func parameters(_ image: GeneratedImage, model: String) -> String {
        image.parameterText(model: model).first { $0.key == "parameters" }!.value
    }

    func testDefaultFieldsInForgeOrder() {
        var request = GenerationRequest(prompt: "a red fox, studio light", seed: 42, steps: 20, width: 1024, height: 768)
        request.guidance = 3.5
        let image = GeneratedImage(width: 1024, height: 768, rgb: [], request: request, modelHash: "0123456789")
        let text = Self.parameters(image, model: "flux1-dev.safetensors")
        let lines = text.components(separatedBy: "\n")
        XCTAssertEqual(lines.count, 2, text)
        XCTAssertEqual(lines[0], "a red fox, studio light")
        XCTAssertEqual(lines[1], "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, "
                       + "Seed: 42, Size: 1024x768, Model hash: 0123456789, Model: flux1-dev.safetensors")
        let f = Self.fields(lines[1])
        XCTAssertEqual(f.map(\.0), ["Steps", "Sampler", "Schedule type", "CFG scale", "Distilled CFG Scale", "Seed", "Size",
                                    "Model hash", "Model"])
        XCTAssertEqual(f.map(\.1), ["20", "Euler", "Simple", "1", "3.5", "42", "1024x768", "0123456789", "flux1-dev.safetensors"])
        // A1111 treats the prompt line as prompt: fewer than 3 fields there.
        XCTAssertLessThan(Self.fields(lines[0]).count, 3)
    }

    /// True CFG with a negative prompt, the DiffSynth schedule, no hash yet, and a model name that
    /// needs quoting.
    func testTrueCFGShiftAndQuoting() {
        var request = GenerationRequest(prompt: "line one\nline two", seed: 7, steps: 4, width: 512, height: 512)
        request.trueCFGScale = 4.5
        request.negativePrompt = "blurry, low quality"
        request.guidance = 1
        request.schedule = .diffSynth(shift: 3)
        let image = GeneratedImage(width: 512, height: 512, rgb: [], request: request)
        let text = Self.parameters(image, model: "my model, v2: final")
        let lines = text.components(separatedBy: "\n")
        XCTAssertEqual(Array(lines.prefix(3)), ["line one", "line two", "Negative prompt: blurry, low quality"])
        let f = Self.fields(lines[3])
        XCTAssertEqual(f.map(\.0), ["Steps", "Sampler", "Schedule type", "CFG scale", "Distilled CFG Scale", "Seed", "Size",
                                    "Shift", "Model"])
        XCTAssertEqual(f.map(\.1), ["4", "Euler", "Simple", "4.5", "1", "7", "512x512", "3", "my model, v2: final"])
        XCTAssertTrue(lines[3].hasSuffix(#"Model: "my model, v2: final""#), lines[3])
        // Without true CFG the negative prompt is not written (it was not used).
        request.trueCFGScale = 1
        let plain = Self.parameters(GeneratedImage(width: 512, height: 512, rgb: [], request: request), model: "m")
        XCTAssertFalse(plain.contains("Negative prompt"))
        XCTAssertTrue(plain.contains("CFG scale: 1, "))
    }

    /// `T5 length` is written when the request read another number of T5 tokens than the model's
    /// preset (a JPEG or WebP keeps only this text), after `Shift` and before the hashes.
    func testT5LengthOnlyWhenNotThePresets() {
        var request = GenerationRequest(prompt: "x", seed: 1, steps: 4, width: 64, height: 64)
        let image = { GeneratedImage(width: 64, height: 64, rgb: [], request: request, modelHash: "abc") }
        XCTAssertFalse(Self.parameters(image(), model: "m").contains("T5 length"), "512 on FLUX.1-dev: the preset's")
        request.maxSequenceLength = 256
        let text = Self.parameters(image(), model: "m")
        let f = Self.fields(text.components(separatedBy: "\n").last!)
        XCTAssertEqual(f.map(\.0), ["Steps", "Sampler", "Schedule type", "CFG scale", "Distilled CFG Scale", "Seed", "Size", "T5 length",
                                    "Model hash", "Model"])
        XCTAssertEqual(f.first { $0.0 == "T5 length" }?.1, "256")
        // schnell's preset reads 256: the same request is then the default, and 512 is written.
        XCTAssertFalse(image().parameterText(model: "m", presetSequenceLength: 256)[0].value.contains("T5 length"))
        request.maxSequenceLength = 512
        XCTAssertTrue(image().parameterText(model: "m", presetSequenceLength: 256)[0].value.contains("T5 length: 512"))
    }

    /// The `majicflux` chunk still carries the request as JSON.
    func testRequestJSONChunk() throws {
        let image = GeneratedImage(width: 64, height: 64, rgb: [], request: GenerationRequest(prompt: "x", seed: 3))
        let json = try XCTUnwrap(image.parameterText(model: "m").first { $0.key == "majicflux" }?.value)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(obj["seed"] as? Int, 3)
        XCTAssertEqual(obj["prompt"] as? String, "x")
    }
}
