import Foundation
import Models
import Tensor

/// Reads a job submission (a JSON object) into a checked `GenerationRequest`. Every problem is an
/// `APIError` (400) whose message names the field, so the page can show it as it is.
///
/// Fields: `prompt` (required), `negative_prompt`, `seed` (-1 = random; a number or a string of
/// digits), `steps`, `width`/`height`, `guidance`, `true_cfg_scale`, `max_sequence_length`,
/// `schedule` ("model" | "diffsynth"), `shift`, `hires` (`JobHires`), `loras` (`[{"name", "weight"}]`, names from the LoRA
/// folder), and the pictures (`JobImages`: `image`, `mask`, `strength`, `mask_blur`, `outpaint`,
/// `control`, `control_preprocess`, `reference`, `reference_resize`). A field left out takes the served model's preset (`defaults`); values are checked once,
/// against `GenerationLimits` (and `LoRALimits`). Unknown fields are ignored.
struct JobRequestParser {
    /// What a job gets for the settings it leaves out (the model's preset, server overrides applied).
    var defaults: ModelPreset
    var limits: GenerationLimits
    var images: JobImages
    /// Largest body without its pictures.
    var maxBodyBytes: Int

    init(configuration c: ServerConfiguration, model: ModelPreset) {
        defaults = c.jobDefaults(model: model)
        limits = c.limits
        images = JobImages(limits: c.imageLimits)
        maxBodyBytes = c.maxBodyBytes
    }

    /// A submission read and checked: the request (its `loras` empty: none stay attached from the
    /// job before) and the LoRAs it names, still to be loaded (`LoRALibrary.uses`).
    struct Parsed {
        var request: GenerationRequest
        var loras: [JobLoRA]
        /// `batch_count`: pictures of the request with seeds seed, seed+1, ..., queued as one batch
        /// group (`batchCounts`).
        var batchCount = 1
    }

    /// The batch counts a submission may ask for (the console's field).
    static let batchCounts = 1...4

    /// The job's fields other than its pictures (`JobConditioning.roles`), as `parse` and `JobImages`
    /// read them: a multipart part of another name is ignored like an unknown JSON field, even when
    /// it is not text. Keep it in step with the fields listed above (docs/API.md has the table).
    static let fieldNames: Set<String> = [
        "prompt", "negative_prompt", "seed", "steps", "width", "height", "guidance", "true_cfg_scale",
        "max_sequence_length", "cache_threshold", "hires", "schedule", "shift", "loras", "batch_count",
        "strength", "mask_blur", "outpaint", "control_preprocess", "reference_resize", "keep_unmasked",
    ]

    /// A JSON body: its pictures as base64 fields. Beyond `maxBodyBytes`, only picture bytes may go.
    func parse(_ body: [UInt8]) throws -> Parsed {
        let json: JSONValue
        // Integers past Int keep their digits (as text), so a seed up to 2^64-1 arrives exact.
        do { json = try JSONValue.parse(body, maxDepth: 16, largeIntegersAsText: true) } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
        guard let o = json.object else { throw APIError.badRequest("the request body must be a JSON object") }
        if body.count - JobImages.pictureBytes(o) > maxBodyBytes { throw Self.tooLarge(maxBodyBytes) }
        return try parse(o, files: [:])
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "the request body is larger than this server's limit of \(limit) bytes (not counting its pictures)")
    }

    /// A `multipart/form-data` body: a `request` part holding the job as JSON, or one part per field;
    /// pictures as file parts named `image`, `mask`, `control`, `reference`.
    func parseMultipart(_ body: [UInt8], boundary: String) throws -> Parsed {
        let parts = try MultipartParser.parse(body, boundary: boundary)
        var files: [String: [UInt8]] = [:], fields: [String: JSONValue] = [:], request: [String: JSONValue]?
        var textBytes = 0
        for part in parts {
            if files[part.name] != nil || fields[part.name] != nil || (part.name == "request" && request != nil) {
                throw APIError.badRequest("the multipart body has two parts named \"\(part.name.prefix(40))\"")
            }
            if JobConditioning.roles.contains(part.name) {
                if part.data.isEmpty { continue }  // a form's file input left empty
                files[part.name] = part.data
                continue
            }
            textBytes += part.data.count
            if textBytes > maxBodyBytes { throw Self.tooLarge(maxBodyBytes) }
            if part.name == "request" {
                let json: JSONValue
                do { json = try JSONValue.parse(part.data, maxDepth: 16, largeIntegersAsText: true) } catch {
                    throw APIError.badRequest("the multipart part \"request\" is not valid JSON: \(error)")
                }
                guard let o = json.object else { throw APIError.badRequest("the multipart part \"request\" must be a JSON object") }
                request = o
            } else {
                guard let text = String(validating: part.data, as: UTF8.self) else {
                    // Unknown fields are ignored, files under names this API does not read too (a
                    // form's extra file input); a field it reads must be text.
                    guard Self.fieldNames.contains(part.name) else { continue }
                    throw APIError.badRequest("the multipart field \"\(part.name.prefix(40))\" is not UTF-8 text")
                }
                if text.isEmpty { continue }  // a form field left empty: the default
                // Structured fields may be given as JSON text; the others are strings (numbers as text).
                if ["loras", "outpaint", "control_preprocess", "hires"].contains(part.name), let v = try? JSONValue.parse(part.data, maxDepth: 8) {
                    fields[part.name] = v
                } else {
                    fields[part.name] = .string(text)
                }
            }
        }
        // A `request` part and loose fields: the fields fill in what the request leaves out.
        let o = (request ?? [:]).merging(fields) { json, _ in json }
        return try parse(o, files: files)
    }

    private func parse(_ o: [String: JSONValue], files: [String: [UInt8]]) throws -> Parsed {

        guard let promptValue = o["prompt"] else { throw APIError.badRequest("prompt is missing") }
        guard let prompt = promptValue.string else { throw APIError.badRequest("prompt must be a string") }
        let d = defaults
        var r = GenerationRequest(prompt: prompt, preset: d, seed: try Self.seed(o["seed"]))
        if let v = o["negative_prompt"], !v.isNull {
            guard let s = v.string else { throw APIError.badRequest("negative_prompt must be a string") }
            r.negativePrompt = s
        }
        r.steps = try Self.integer(o["steps"], "steps", default: d.steps)
        // Pictures first: without a width and height the job takes their size.
        r.conditioning = try images.conditioning(o, files: files)
        let width = try Self.optionalInteger(o["width"], "width"), height = try Self.optionalInteger(o["height"], "height")
        if width == nil && height == nil, r.conditioning != nil { _ = ConditioningSize.aligningOutpaint(&r.conditioning!) }
        let natural = r.conditioning.flatMap(ConditioningSize.natural)
        (r.width, r.height) = ConditioningSize.resolve(width: width, height: height, natural: natural, defaultSide: d.imageSize)
        r.guidance = try Self.number(o["guidance"], "guidance", default: d.guidance)
        r.trueCFGScale = try Self.number(o["true_cfg_scale"], "true_cfg_scale", default: 1)
        r.maxSequenceLength = try Self.integer(o["max_sequence_length"], "max_sequence_length", default: d.sequenceLength)
        r.cacheThreshold = try Self.number(o["cache_threshold"], "cache_threshold", default: 0)
        r.hires = try JobHires.parse(o["hires"], width: r.width, height: r.height)
        let shiftGiven = o["shift"].map { !$0.isNull } ?? false
        switch o["schedule"] {
        case nil, .null?:
            r.schedule = d.schedule
            // The server's default schedule (`serve --schedule diffsynth`) takes a given shift too.
            if case .diffSynth = d.schedule, shiftGiven { r.schedule = .diffSynth(shift: try Self.number(o["shift"], "shift", default: ScheduleOption.diffSynthShift)) }
        case .string("model")?: r.schedule = .model
        case .string("diffsynth")?: r.schedule = .diffSynth(shift: try Self.number(o["shift"], "shift", default: ScheduleOption.diffSynthShift))
        default: throw APIError.badRequest("schedule must be \"model\" or \"diffsynth\"")
        }
        if shiftGiven, case .model = r.schedule {
            throw APIError.badRequest("shift applies with \"schedule\": \"diffsynth\" only (the model's schedule takes its shift from scheduler_config.json); leave it out, or add the schedule")
        }
        do {
            // The pictures' own problems first: the size they imply must not hide them.
            if r.conditioning != nil { try limits.check(r.withSmallestSize, preset: d) }
            try limits.check(r, preset: d)
        } catch let issue as GenerationIssue {
            throw APIError.badRequest(issue.message(calling: issue.field.rawValue))
        }
        let loras = try Self.loras(o["loras"])
        r.loras = []
        let count = try Self.integer(o["batch_count"], "batch_count", default: 1)
        guard Self.batchCounts.contains(count) else {
            throw APIError.badRequest("batch_count must be between \(Self.batchCounts.lowerBound) and \(Self.batchCounts.upperBound), got \(count)")
        }
        if r.seed > UInt64.max - UInt64(count - 1) {
            throw APIError.badRequest("seed \(r.seed) with batch_count \(count): the last picture's seed would pass \(UInt64.max), the largest seed")
        }
        return Parsed(request: r, loras: loras, batchCount: count)
    }

    /// `loras`: a list of at most `LoRALimits.perJob` objects `{"name": ..., "weight": ...}`, each name
    /// a LoRA name (no path; the folder's listing is checked when they load) given once, each weight
    /// (default 1) a number in `LoRALimits.weights`.
    static func loras(_ v: JSONValue?) throws -> [JobLoRA] {
        let shape = "a list of {\"name\": ..., \"weight\": ...} objects"
        switch v {
        case nil, .null?: return []
        case .array(let items)?:
            guard items.count <= LoRALimits.perJob else {
                throw APIError.badRequest("loras has \(items.count) entries; a job may use at most \(LoRALimits.perJob) LoRAs")
            }
            var chosen: [JobLoRA] = []
            for (i, item) in items.enumerated() {
                guard let o = item.object else { throw APIError.badRequest("loras[\(i)] must be an object {\"name\": ..., \"weight\": ...}, got \(shown(item))") }
                guard let nameValue = o["name"], !nameValue.isNull else { throw APIError.badRequest("loras[\(i)].name is missing") }
                guard let name = nameValue.string else { throw APIError.badRequest("loras[\(i)].name must be a string, got \(shown(nameValue))") }
                if let problem = LoRALibrary.nameProblem(name) {
                    throw APIError.badRequest("loras[\(i)].name must be the name of a file in the LoRA folder as GET /api/loras lists it, "
                                              + "not a path: \(shown(nameValue)) is \(problem)")
                }
                let weight = try number(o["weight"], "loras[\(i)].weight", default: 1)
                if let problem = LoRALimits.problem(Double(weight)) { throw APIError.badRequest("loras[\(i)].weight \(problem)") }
                if let j = chosen.firstIndex(where: { $0.name == name }) {
                    throw APIError.badRequest("loras[\(i)]: \"\(name)\" is already loras[\(j)]; give each LoRA once (to strengthen it, raise its weight)")
                }
                chosen.append(JobLoRA(name: name, weight: weight))
            }
            return chosen
        default: throw APIError.badRequest("loras must be \(shape), got \(shown(v!))")
        }
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
        default: throw fail(article(kind(v!)))
        }
    }

    static func optionalInteger(_ v: JSONValue?, _ name: String) throws -> Int? {
        if v == nil || v?.isNull == true { return nil }
        return try integer(v, name, default: 0)
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
        return article(kind(v))
    }

    /// "a list", "an object".
    static func article(_ noun: String) -> String { ("aeiou".contains(noun.first ?? "x") ? "an " : "a ") + noun }

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
