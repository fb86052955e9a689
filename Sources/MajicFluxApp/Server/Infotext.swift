import Foundation
import Models

/// Reads A1111-style `parameters` text back (ours, or another tool's that kept only this chunk): the
/// history rebuild's fallback when a PNG has no `majicflux` chunk. The prompt's `<lora:name:weight>`
/// tags become the entry's LoRAs and leave the prompt, as A1111's own reader does.
enum Infotext {
    /// The text split as A1111's `parse_generation_parameters` splits it.
    struct Parsed: Equatable {
        /// Without the `<lora:...>` tags.
        var prompt: String
        /// As written, tags included (what A1111's reader calls the prompt).
        var taggedPrompt: String
        var negativePrompt: String
        /// `Key: value` fields of the last line, quoted values unquoted.
        var fields: [String: String]
        /// The prompt's `<lora:name:weight>` tags, in order.
        var loras: [JobLoRA]
    }

    /// A1111's field pattern (modules/infotext_utils.py).
    private static let field = try! NSRegularExpression(pattern: #"\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)"#)
    /// `<lora:name>` or `<lora:name:weight[:more]>`, with the spaces before it; `<lyco:...>` too,
    /// A1111's other name for the same tag since 1.5 (it was left in the prompt, no LoRA applied).
    private static let loraTag = try! NSRegularExpression(pattern: #"\s*<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>"#)

    static func parse(_ text: String) -> Parsed {
        var lines = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n")
        var last = lines.popLast() ?? ""
        var fields: [String: String] = [:]
        let matches = field.matches(in: last, range: NSRange(last.startIndex..., in: last))
        if matches.count < 3 {
            lines.append(last)
            last = ""
        } else {
            for m in matches {
                guard let k = Range(m.range(at: 1), in: last), let v = Range(m.range(at: 2), in: last) else { continue }
                fields[String(last[k])] = unquote(String(last[v]))
            }
        }
        var prompt: [String] = [], negative: [String] = []
        var inNegative = false
        for raw in lines {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Negative prompt:") {
                inNegative = true
                line = String(line.dropFirst("Negative prompt:".count)).trimmingCharacters(in: .whitespaces)
            }
            if inNegative { negative.append(line) } else { prompt.append(line) }
        }
        let tagged = prompt.joined(separator: "\n")
        let (bare, loras) = stripLoRATags(tagged)
        return Parsed(prompt: bare, taggedPrompt: tagged, negativePrompt: negative.joined(separator: "\n"), fields: fields, loras: loras)
    }

    /// The dictionary A1111's `parse_generation_parameters` makes of the text (`png-info`'s
    /// `parameters`): "Prompt" (tags kept), "Negative prompt", every field as text, a `WxH` value
    /// split into "Key-1" and "Key-2", and the defaults A1111 (1.10) fills in for "Clip skip" and the
    /// hires fix when absent. (It also fills in defaults for settings this server has no use for:
    /// inpainting area, RNG, schedule sigmas; those are left out.)
    static func a1111Parameters(_ text: String) -> [String: String] {
        let p = parse(text)
        var result = ["Prompt": p.taggedPrompt, "Negative prompt": p.negativePrompt]
        for (key, value) in p.fields {
            let size = value.split(separator: "x", omittingEmptySubsequences: false)
            if size.count == 2, size.allSatisfy({ !$0.isEmpty && $0.allSatisfy { ("0"..."9").contains($0) } }) {
                result[key + "-1"] = String(size[0])
                result[key + "-2"] = String(size[1])
            } else {
                result[key] = value
            }
        }
        let defaults = ["Clip skip": "1", "Hires sampler": "Use same sampler", "Hires schedule type": "Use same scheduler",
                        "Hires checkpoint": "Use same checkpoint", "Hires prompt": "", "Hires negative prompt": ""]
        for (key, value) in defaults where result[key] == nil { result[key] = value }
        if result["Hires resize-1"] == nil { (result["Hires resize-1"], result["Hires resize-2"]) = ("0", "0") }
        return result
    }

    /// The prompt without its `<lora:...>` tags, and the tags as LoRAs (weight 1 when none is given or
    /// it is not a number).
    static func stripLoRATags(_ prompt: String) -> (prompt: String, loras: [JobLoRA]) {
        let ns = prompt as NSString
        var loras: [JobLoRA] = []
        for m in loraTag.matches(in: prompt, range: NSRange(location: 0, length: ns.length)) {
            let name = ns.substring(with: m.range(at: 1))
            let weight = m.range(at: 2).location == NSNotFound ? nil : Float(ns.substring(with: m.range(at: 2)).trimmingCharacters(in: .whitespaces))
            loras.append(JobLoRA(name: name, weight: weight.flatMap { $0.isFinite ? $0 : nil } ?? 1))
        }
        let bare = loraTag.stringByReplacingMatches(in: prompt, range: NSRange(location: 0, length: ns.length), withTemplate: "")
        return (bare.trimmingCharacters(in: .whitespacesAndNewlines), loras)
    }

    /// The `<lora:...>` tags of `prompt` whose weight is not a finite number (`<lora:x:abc>`), or that
    /// carry more than a weight (`<lora:x:1:te=0.5>`, A1111's separate text-encoder weight, not
    /// taken here), as written: a request must not have them read as weight 1.
    static func unreadableLoRATags(_ prompt: String) -> [String] {
        let ns = prompt as NSString
        return loraTag.matches(in: prompt, range: NSRange(location: 0, length: ns.length)).compactMap { m in
            let tag = ns.substring(with: m.range).trimmingCharacters(in: .whitespaces)
            let weight = m.range(at: 2).location == NSNotFound ? nil : ns.substring(with: m.range(at: 2)).trimmingCharacters(in: .whitespaces)
            let extra = tag.split(separator: ":", omittingEmptySubsequences: false).count > 3
            return extra || (weight.map { Float($0)?.isFinite != true } ?? false) ? tag : nil
        }
    }

    /// A history entry's parameters from infotext; nil when it lacks the steps or the seed (not a
    /// generation's parameters). The size falls back to the picture's; what the text does not say
    /// (the T5 length without `T5 length`, the schedule without `Shift`, the guidance) comes from `preset` when given (the
    /// served model's, as a job that leaves them out gets: an A1111 PNG loaded into the page set the
    /// T5 length to 512 on a server serving 8), else FLUX.1-dev's defaults.
    static func parameters(_ text: String, width: Int, height: Int, preset: ModelPreset? = nil) -> JobParameters? {
        let p = parse(text)
        guard let steps = p.fields["Steps"].flatMap({ Int($0) }), let seed = p.fields["Seed"].flatMap({ UInt64($0) }) else { return nil }
        var size = (width, height)
        if let s = p.fields["Size"]?.split(separator: "x"), s.count == 2, let w = Int(s[0]), let h = Int(s[1]) { size = (w, h) }
        var r = preset.map { GenerationRequest(prompt: p.prompt, preset: $0, seed: seed) } ?? GenerationRequest(prompt: p.prompt, seed: seed)
        (r.steps, r.width, r.height) = (steps, size.0, size.1)
        r.negativePrompt = p.negativePrompt
        if let g = p.fields["Distilled CFG Scale"].flatMap({ Float($0) }) { r.guidance = g }
        if let cfg = p.fields["CFG scale"].flatMap({ Float($0) }) { r.trueCFGScale = max(1, cfg) }
        if let shift = p.fields["Shift"].flatMap({ Float($0) }) { r.schedule = .diffSynth(shift: shift) } else if preset == nil { r.schedule = .model }
        if let n = p.fields["T5 length"].flatMap({ Int($0) }), n > 0 { r.maxSequenceLength = n }
        r.hires = hires(p.fields, width: size.0, height: size.1)
        var parameters = JobParameters(r)
        parameters.loras = p.loras
        return parameters
    }

    /// The hires fix the fields describe (`Hires upscale` or `Hires resize`, `Hires steps`, `Hires
    /// upscaler`, `Denoising strength`) for a first pass of `width` x `height`; nil without one.
    static func hires(_ fields: [String: String], width: Int, height: Int) -> HiresFix? {
        let upscaler = fields["Hires upscaler"].flatMap(HiresUpscaler.init(name:)) ?? .latent(.bilinear, antialias: false)
        let strength = fields["Denoising strength"].flatMap { Float($0) } ?? HiresFix.defaultStrength
        let steps = fields["Hires steps"].flatMap { Int($0) }
        if let scale = fields["Hires upscale"].flatMap({ Float($0) }), scale.isFinite, scale > 0 {
            return .scaled(width: width, height: height, by: scale, steps: steps, strength: strength, upscaler: upscaler)
        }
        if let s = fields["Hires resize"]?.split(separator: "x"), s.count == 2, let w = Int(s[0]), let h = Int(s[1]) {
            return .resized(width: width, height: height, toWidth: w, toHeight: h, steps: steps, strength: strength, upscaler: upscaler)
        }
        return nil
    }

    /// A1111's `unquote`: a value in double quotes is a JSON string.
    static func unquote(_ s: String) -> String {
        guard s.count >= 2, s.first == "\"", s.last == "\"",
              let v = try? JSONDecoder().decode(String.self, from: Data(s.utf8)) else { return s }
        return v
    }
}
