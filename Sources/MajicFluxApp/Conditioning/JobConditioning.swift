import Models
import Tensor

/// A generation's pictures and options as recorded: in the API's job parameters, the history index
/// and the PNG's `majicflux` chunk (snake_case JSON). The pixels are never in it: `inputs` gives
/// each picture's size and, once the history has stored it, its file.
struct JobConditioning: Codable, Equatable, Sendable {
    /// `ImageConditioning.Mode`: "img2img", "inpaint", "outpaint", "control" or "kontext".
    var mode: String
    /// The strength asked for (nil: none given; img2img and inpainting then use 0.6).
    var strength: Float?
    var mask_blur: Int
    /// [left, top, right, bottom] pixels.
    var outpaint: [Int]?
    var control_preprocess: ControlPreprocessRecord?
    /// "auto" or "off", with a reference only.
    var reference_resize: String?
    /// "image", "mask", "control", "reference": the pictures given.
    var inputs: [String: JobInput]
    /// The input picture pasted back outside the mask (`ImageConditioning.keepUnmasked`); nil: off.
    var keep_unmasked: Bool?

    /// `{"canny": [low, high]}`.
    struct ControlPreprocessRecord: Codable, Equatable, Sendable { var canny: [Int]? }

    /// One input picture: its size, and where the history keeps it (nil until stored).
    struct JobInput: Codable, Equatable, Sendable {
        var width: Int
        var height: Int
        /// The PNG's name in the output folder, served at `url`.
        var file: String?
        var url: String?
    }

    /// The input roles in the order the API lists them.
    static let roles = ["image", "mask", "control", "reference"]

    /// nil for text-to-image.
    init?(_ c: ImageConditioning?) {
        guard let c, !c.isEmpty else { return nil }
        mode = c.mode.rawValue
        strength = c.strength
        mask_blur = c.maskBlur
        outpaint = c.outpaint.map { [$0.left, $0.top, $0.right, $0.bottom] }
        if case .canny(let l, let h)? = c.controlPreprocess { control_preprocess = ControlPreprocessRecord(canny: [l, h]) }
        reference_resize = c.reference == nil ? nil : c.referenceResize.rawValue
        keep_unmasked = c.keepUnmasked ? true : nil
        inputs = [:]
        for (role, p) in Self.pictures(c) { inputs[role] = JobInput(width: p.width, height: p.height) }
    }

    /// The pictures of `c` by role, in `roles` order.
    static func pictures(_ c: ImageConditioning) -> [(role: String, picture: PNGImage)] {
        [("image", c.image), ("mask", c.mask), ("control", c.control), ("reference", c.reference)]
            .compactMap { role, p in p.map { (role, $0) } }
    }

    /// The strength the pipeline uses: img2img and inpainting with an ordinary model only.
    func effectiveStrength(kind: ModelPreset.ConditioningKind) -> Float? {
        guard kind == .base, ["img2img", "inpaint", "outpaint"].contains(mode) else { return nil }
        return strength ?? ImageConditioning.defaultStrength
    }

    /// Infotext fields (A1111 names where A1111 has them), in order.
    func infotextFields(kind: ModelPreset.ConditioningKind) -> [(String, String)] {
        var f: [(String, String)] = []
        if let s = effectiveStrength(kind: kind) { f.append(("Denoising strength", GeneratedImage.number(s))) }
        if mask_blur > 0 { f.append(("Mask blur", "\(mask_blur)")) }
        if let m = outpaint { f.append(("Outpaint", m.map(String.init).joined(separator: ","))) }
        if kind == .fill && mode != "outpaint" { f.append(("Inpaint", "FLUX.1-Fill")) }
        if inputs["control"] != nil {
            let how = control_preprocess?.canny.map { "canny \($0.map(String.init).joined(separator: " "))" } ?? "as given"
            f.append(("Control image", how))
        }
        if let r = reference_resize { f.append(("Kontext reference", r == "auto" ? "resized (auto)" : "own size (off)")) }
        return f
    }
}

extension GeneratedImage {
    /// A number as the infotext writes it (1, 0.75).
    static func number(_ v: Float) -> String { v == v.rounded() && abs(v) < 1e7 ? String(Int(v)) : "\(v)" }

    /// `parameterText(model:)` with the conditioning recorded: its infotext fields inserted before
    /// `Lora hashes`/`Model hash`/`Model` (the `Model` field stays last, where the history rebuild
    /// reads it), and `conditioning` added to the `majicflux` JSON. Text-to-image: unchanged.
    func parameterText(model: String, preset: ModelPreset, record: JobConditioning?) -> [(key: String, value: String)] {
        var chunks = parameterText(model: model, presetSequenceLength: preset.sequenceLength)
        let kind = preset.conditioning
        guard let record else { return chunks }
        for i in chunks.indices {
            if chunks[i].key == "parameters" {
                chunks[i].value = Self.inserting(record.infotextFields(kind: kind), into: chunks[i].value, model: model, modelHash: modelHash)
            } else if chunks[i].key == "majicflux", chunks[i].value.hasSuffix("}"),
                      let data = try? JSONResponse.encoder.encode(record), let json = String(data: data, encoding: .utf8) {
                chunks[i].value = String(chunks[i].value.dropLast()) + ", \"conditioning\": " + json + "}"
            }
        }
        return chunks
    }

    /// `fields` put into the last line of `text` before the trailing `Model hash`/`Model` fields,
    /// which are found exactly as `parameterText(model:)` wrote them.
    static func inserting(_ fields: [(String, String)], into text: String, model: String, modelHash: String?) -> String {
        guard !fields.isEmpty else { return text }
        var tail = ", Model: \(quoted(model))"
        if let modelHash { tail = ", Model hash: \(quoted(modelHash))" + tail }
        guard text.hasSuffix(tail) else { return text + ", " + fields.map { "\($0.0): \(quoted($0.1))" }.joined(separator: ", ") }
        let head = text.dropLast(tail.count)
        return String(head) + fields.map { ", \($0.0): \(quoted($0.1))" }.joined() + tail
    }

    /// A1111's `quote`: values holding `,`, `:` or a line break become a JSON string.
    static func quoted(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == ":" || $0.isNewline }) else { return s }
        return JSONValue.string(s).serialized()
    }
}
