import Foundation
import Models
import Tensor

/// Reads a job submission (a JSON object) into a checked `GenerationRequest`. Every problem is an
/// `APIError` (400) whose message names the field, so the page can show it as it is.
///
/// Fields: `prompt` (required), `negative_prompt`, `seed` (-1 = random; a number or a string of
/// digits), `steps` (1-100), `width`/`height` (multiples of 16, product within the pixel limit),
/// `guidance`, `true_cfg_scale`, `max_sequence_length`, `schedule` ("model" | "diffsynth"), `shift`.
/// Unknown fields are ignored.
struct JobRequestParser {
    var maxPixels: Int
    var defaultMaxSequenceLength: Int
    var defaultSchedule: ScheduleKind
    /// Width and height of a job that names none: the model's own size.
    var defaultImageSize: Int

    init(configuration c: ServerConfiguration, modelSequenceLength: Int, modelImageSize: Int = 1024) {
        maxPixels = c.maxPixels
        defaultImageSize = modelImageSize
        defaultMaxSequenceLength = c.defaultMaxSequenceLength ?? modelSequenceLength
        defaultSchedule = c.defaultSchedule
    }

    /// Longest side a job may ask for, whatever the pixel limit.
    static let maxSide = 16384

    func parse(_ body: [UInt8]) throws -> GenerationRequest {
        let json: JSONValue
        // Integers past Int keep their digits (as text), so a seed up to 2^64-1 arrives exact.
        do { json = try JSONValue.parse(body, maxDepth: 16, largeIntegersAsText: true) } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
        guard let o = json.object else { throw APIError.badRequest("the request body must be a JSON object") }

        guard let promptValue = o["prompt"] else { throw APIError.badRequest("prompt is missing") }
        guard let prompt = promptValue.string else { throw APIError.badRequest("prompt must be a string") }
        if prompt.allSatisfy(\.isWhitespace) { throw APIError.badRequest("the prompt is empty: describe what to paint") }
        var negative = ""
        if let v = o["negative_prompt"], !v.isNull {
            guard let s = v.string else { throw APIError.badRequest("negative_prompt must be a string") }
            negative = s
        }

        let seed = try Self.seed(o["seed"])
        let steps = try Self.integer(o["steps"], "steps", default: 20)
        guard GenerationRequest.stepsRange.contains(steps) else {
            throw APIError.badRequest("steps must be between 1 and \(ServerConfiguration.maxSteps), got \(steps)")
        }
        let width = try Self.integer(o["width"], "width", default: defaultImageSize)
        let height = try Self.integer(o["height"], "height", default: defaultImageSize)
        for (name, v) in [("width", width), ("height", height)] where v < 16 || v % 16 != 0 {
            throw APIError.badRequest("\(name) must be a positive multiple of 16, got \(v)")
        }
        // Each side is bounded before the product is formed, so no input can overflow it.
        for (name, v) in [("width", width), ("height", height)] where v > Self.maxSide {
            throw APIError.badRequest("\(name) must be at most \(Self.maxSide), got \(v)")
        }
        let pixels = width * height
        if pixels > maxPixels {
            throw APIError.badRequest("\(width)x\(height) is \(pixels) pixels, above this server's limit of \(maxPixels) (--max-pixels)")
        }

        var r = GenerationRequest(prompt: prompt, seed: seed, steps: steps, width: width, height: height)
        r.negativePrompt = negative
        r.guidance = try Self.number(o["guidance"], "guidance", default: 3.5)
        r.trueCFGScale = try Self.number(o["true_cfg_scale"], "true_cfg_scale", default: 1)
        r.maxSequenceLength = try Self.integer(o["max_sequence_length"], "max_sequence_length", default: defaultMaxSequenceLength)
        switch o["schedule"] {
        case nil, .null?: r.schedule = defaultSchedule
        case .string("model")?: r.schedule = .model
        case .string("diffsynth")?: r.schedule = .diffSynth(shift: try Self.number(o["shift"], "shift", default: 3))
        default: throw APIError.badRequest("schedule must be \"model\" or \"diffsynth\"")
        }
        do { try r.validate(maxPixels: maxPixels) } catch let ModelError.invalidParameter(message) {
            throw APIError.badRequest(message)
        }
        return r
    }

    /// -1 (or absent) = a fresh random seed; else a non-negative integer, given as a number or digits.
    static func seed(_ v: JSONValue?) throws -> UInt64 {
        func fail(_ shown: String) -> APIError {
            APIError.badRequest("seed must be an integer: -1 for random, or 0 and up; got \(shown)")
        }
        switch v {
        case nil, .null?: return try Seeds.resolve(-1)
        case .int(let i)?:
            if i == -1 { return try Seeds.resolve(-1) }
            guard i >= 0 else { throw fail(String(i)) }
            return UInt64(i)
        case .double(let d)?:
            // Integers past Int64 arrive as doubles; accept only exact integers in range.
            guard d >= 0, d < 18446744073709551616.0, d.rounded() == d else { throw fail(String(d)) }
            return UInt64(d)
        case .string(let s)?:
            let t = s.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t == "-1" { return try Seeds.resolve(-1) }
            guard let u = UInt64(t) else { throw fail("\"\(s.prefix(40))\"") }
            return u
        default: throw fail("a \(kind(v!))")
        }
    }

    /// An integer given as a JSON integer, an integral number, or a string of digits.
    static func integer(_ v: JSONValue?, _ name: String, default d: Int) throws -> Int {
        switch v {
        case nil, .null?: return d
        case .int(let i)?: return i
        case .double(let x)?:
            if x.rounded() == x, abs(x) < 1e15 { return Int(x) }
        case .string(let s)?:
            if let i = Int(s.trimmingCharacters(in: .whitespaces)) { return i }
        default: break
        }
        throw APIError.badRequest("\(name) must be an integer, got \(shown(v!))")
    }

    /// A finite number given as a JSON number or a numeric string.
    static func number(_ v: JSONValue?, _ name: String, default d: Float) throws -> Float {
        switch v {
        case nil, .null?: return d
        case .int(let i)?: return Float(i)
        case .double(let x)?: if x.isFinite { return Float(x) }
        case .string(let s)?:
            if let x = Double(s.trimmingCharacters(in: .whitespaces)), x.isFinite { return Float(x) }
        default: break
        }
        throw APIError.badRequest("\(name) must be a number, got \(shown(v!))")
    }

    static func shown(_ v: JSONValue) -> String {
        if case .string(let s) = v { return "\"\(s.prefix(40))\"" }
        if case .int(let i) = v { return String(i) }
        if case .double(let d) = v { return String(d) }
        return "a \(kind(v))"
    }

    static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "list"
        case .object: return "object"
        }
    }
}
