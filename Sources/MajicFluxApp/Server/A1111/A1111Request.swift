import Foundation
import Models
import Tensor

/// A `txt2img` or `img2img` body of the A1111 API read into one checked `GenerationRequest` per
/// picture (docs/API.md, "A1111-compatible API", has the field mapping). Problems are 422s naming
/// the A1111 field; fields this server cannot honour but can safely run without (samplers it does not
/// have, subseeds, face restoration...) are ignored and named in `notes`, which the answer's `info`
/// carries; fields whose absence would give a different kind of picture (scripts, a hires prompt of its
/// own) are 422.
struct A1111Request {
    /// One per picture: `n_iter` batches of `batch_size`, seeds `seed`, `seed+1`, ... in that order.
    var pictures: [GenerationRequest]
    /// The prompt's `<lora:name:weight>` tags (taken out of the prompt), still to be loaded.
    var loras: [JobLoRA]
    var batchSize: Int
    var iterations: Int
    var sendImages: Bool
    /// Things asked for that were ignored, in words.
    var notes: [String]
    /// The prompt as sent (with its LoRA tags), for `info`.
    var prompt: String
    var denoisingStrength: Float?

    /// Reads a body. `img2img`: `init_images` is required and the pictures are conditioning.
    init(_ o: [String: JSONValue], img2img: Bool, parser: JobRequestParser, images: JobImages, maxPictures: Int) throws {
        var notes: [String] = []
        let d = parser.defaults
        let fullPrompt = try Self.string(o, "prompt") ?? ""
        if let bad = Infotext.unreadableLoRATags(fullPrompt).first {
            throw A1111Error.invalid("prompt", "\(bad.prefix(100)): a LoRA tag is <lora:NAME> or <lora:NAME:WEIGHT> with WEIGHT a number")
        }
        let (bare, loras) = Infotext.stripLoRATags(fullPrompt)
        if loras.count > LoRALimits.perJob {
            throw A1111Error.invalid("prompt", "the prompt has \(loras.count) <lora:...> tags; a picture may use at most \(LoRALimits.perJob) LoRAs")
        }
        for (i, l) in loras.enumerated() {
            if let problem = LoRALibrary.nameProblem(l.name) { throw A1111Error.invalid("prompt", "<lora:\(l.name.prefix(80))> is \(problem)") }
            if let problem = LoRALimits.problem(Double(l.weight)) { throw A1111Error.invalid("prompt", "<lora:\(l.name):...> weight \(problem)") }
            if loras[..<i].contains(where: { $0.name == l.name }) {
                throw A1111Error.invalid("prompt", "<lora:\(l.name):...> is given twice; give each LoRA once")
            }
        }
        prompt = fullPrompt
        self.loras = loras

        var base = GenerationRequest(prompt: bare, preset: d)
        base.negativePrompt = try Self.string(o, "negative_prompt") ?? ""
        base.steps = try Self.integer(o, "steps", default: d.steps)
        base.cacheThreshold = try Self.number(o, "cache_threshold", default: 0)   // ours, as in /api/jobs
        // Forge's FLUX mapping: cfg_scale is true CFG (1 = off, >1 also runs the negative prompt);
        // distilled_cfg_scale is the guidance the model embeds.
        base.trueCFGScale = try Self.number(o, "cfg_scale", default: 1)
        let distilled = try Self.number(o, "distilled_cfg_scale", default: d.guidance)
        if d.usesGuidance {
            base.guidance = distilled
        } else if distilled != d.guidance {
            notes.append("distilled_cfg_scale ignored: \(d.name) has no guidance embedder")
        }
        if base.trueCFGScale < 1, base.trueCFGScale >= 0 {
            notes.append("cfg_scale \(base.trueCFGScale) below 1 ran as 1 (no true CFG)")
            base.trueCFGScale = 1
        }

        let sampler = try Self.string(o, "sampler_name") ?? Self.string(o, "sampler_index") ?? ""
        if !sampler.isEmpty && sampler.lowercased() != "euler" {
            notes.append("sampler \"\(sampler.prefix(40))\" is not available; ran Euler (flow matching)")
        }
        let scheduler = try Self.string(o, "scheduler") ?? ""
        if !["", "automatic", "simple"].contains(scheduler.lowercased()) {
            notes.append("schedule type \"\(scheduler.prefix(40))\" is not available; ran Simple")
        }
        let hires = try Self.bool(o, "enable_hr", default: false) && !img2img
        if let script = try Self.string(o, "script_name"), !script.isEmpty {
            throw A1111Error.invalid("script_name", "scripts are not available on this server (got \"\(script.prefix(40))\")")
        }
        // A Canny/Depth model takes its control picture from the ControlNet extension's first unit.
        let controlUnit = d.conditioning == .control ? try Self.controlNetUnit(o, images: images) : nil
        if let scripts = o["alwayson_scripts"]?.object {
            let ignored = scripts.keys.filter { !(controlUnit != nil && $0.lowercased() == "controlnet") }.sorted()
            if !ignored.isEmpty { notes.append("alwayson_scripts ignored: \(ignored.joined(separator: ", ").prefix(200))") }
        }
        for flag in ["restore_faces", "tiling"] where try Self.bool(o, flag, default: false) {
            notes.append("\(flag) ignored: not available")
        }
        if try Self.number(o, "subseed_strength", default: 0) != 0 {
            notes.append("subseed and subseed_strength ignored: variation seeds are not available")
        }
        // Shapes FastAPI checks (A1111's request model) before any ignoring.
        for (field, shape, fits) in [("styles", "a list of style names", { (v: JSONValue) in v.array != nil }),
                                     ("override_settings", "an object of settings", { (v: JSONValue) in v.object != nil })] {
            if let v = o[field], !v.isNull, !fits(v) { throw A1111Error.invalid(field, "\(field) must be \(shape), got \(JobRequestParser.shown(v))") }
        }
        if img2img, try Self.bool(o, "include_init_images", default: false) {
            notes.append("include_init_images ignored: the answer holds the pictures made only")
        }
        if let styles = o["styles"]?.array, !styles.isEmpty { notes.append("styles ignored: this server has no saved styles") }
        if let overrides = o["override_settings"]?.object {
            let others = overrides.keys.filter { $0 != "sd_model_checkpoint" }.sorted()
            if !others.isEmpty { notes.append("override_settings ignored: \(others.joined(separator: ", ").prefix(200))") }
        }

        batchSize = try Self.integer(o, "batch_size", default: 1)
        iterations = try Self.integer(o, "n_iter", default: 1)
        guard batchSize >= 1 else { throw A1111Error.invalid("batch_size", "batch_size must be 1 or more, got \(batchSize)") }
        guard iterations >= 1 else { throw A1111Error.invalid("n_iter", "n_iter must be 1 or more, got \(iterations)") }
        guard batchSize <= maxPictures, iterations <= maxPictures, batchSize * iterations <= maxPictures else {
            throw A1111Error.invalid(batchSize > iterations ? "batch_size" : "n_iter",
                                     "batch_size x n_iter = \(batchSize) x \(iterations) pictures; this server takes at most \(maxPictures) per request")
        }
        sendImages = try Self.bool(o, "send_images", default: true)
        // save_images: the pictures are kept in the history whatever it says, like every job's (docs/API.md).
        _ = try Self.bool(o, "save_images", default: false)

        // The pictures: img2img's init_images (cycled over the batch, as A1111 does) and mask.
        var inits: [PNGImage] = []
        var mask: PNGImage?
        if img2img {
            guard let list = o["init_images"]?.array, !list.isEmpty else {
                throw A1111Error.invalid("init_images", "init_images must be a list of at least one picture (base64 or a data URL)")
            }
            guard list.count <= maxPictures else { throw A1111Error.invalid("init_images", "at most \(maxPictures) init_images per request") }
            for (i, v) in list.enumerated() {
                guard let s = v.string else { throw A1111Error.invalid("init_images", "init_images[\(i)] must be a picture as base64 text") }
                inits.append(try Self.picture(s, field: "init_images", label: "init_images[\(i)]", images: images))
            }
            switch o["mask"] {
            case nil, .null?: break
            case .string(let s)? where s.isEmpty: break
            case .string(let s)?: mask = try Self.a1111Mask(try Self.picture(s, field: "mask", label: "mask", images: images))
            default: throw A1111Error.invalid("mask", "mask must be a picture as base64 text")
            }
            if [.fill, .kontext].contains(d.conditioning) {
                // FLUX.1-Fill repaints the masked area from noise; Kontext takes the picture as its
                // reference: neither has a strength (A1111's default 0.75 made every call a 422).
                if let v = o["denoising_strength"], !v.isNull {
                    notes.append("denoising_strength ignored: \(d.conditioning == .fill ? "FLUX.1-Fill repaints the masked area from noise" : "FLUX.1 Kontext takes init_images as its reference picture")")
                }
                denoisingStrength = nil
            } else {
                denoisingStrength = try Self.number(o, "denoising_strength", default: 0.75)
            }
            // A1111 flattens an RGBA init picture onto white when no mask is sent: img2img of the whole
            // picture, not inpainting of its transparent part (the console's own API does that).
            if mask == nil { inits = inits.map { $0.flattened() } }
            if mask != nil {
                if try Self.integer(o, "inpainting_fill", default: 1) != 1 { notes.append("inpainting_fill ignored: the masked area starts from the picture (\"original\")") }
                if try Self.bool(o, "inpaint_full_res", default: false) { notes.append("inpaint_full_res ignored: the whole picture is repainted at its size") }
                if try Self.integer(o, "inpainting_mask_invert", default: 0) != 0 {
                    throw A1111Error.invalid("inpainting_mask_invert", "inverted masks are not available: send the mask with white = repaint")
                }
            }
            if try Self.integer(o, "resize_mode", default: 0) != 0 { notes.append("resize_mode ignored: pictures are resized to width x height (\"Just resize\")") }
        } else {
            denoisingStrength = hires ? try Self.number(o, "denoising_strength", default: 0.75) : nil
        }

        var width = try Self.optionalInteger(o, "width"), height = try Self.optionalInteger(o, "height")
        var hiresFix: HiresFix?
        if hires {
            // A1111's old API: firstphase_width/height are the first pass, width/height the final size.
            let firstW = try Self.integer(o, "firstphase_width", default: 0), firstH = try Self.integer(o, "firstphase_height", default: 0)
            var resize = (x: try Self.integer(o, "hr_resize_x", default: 0), y: try Self.integer(o, "hr_resize_y", default: 0))
            if firstW != 0 || firstH != 0 {
                resize = (width ?? d.imageSize, height ?? d.imageSize)
                (width, height) = (firstW, firstH)
            }
            hiresFix = try Self.hires(o, width: width ?? d.imageSize, height: height ?? d.imageSize, resize: resize,
                                      strength: denoisingStrength ?? 0.75, notes: &notes)
            // Forge's second-pass guidance fields: the hires pass runs with the first pass's.
            for (field, own, used) in [("hr_cfg", "cfg_scale", base.trueCFGScale), ("hr_distilled_cfg", "distilled_cfg_scale", base.guidance)] {
                if let v = o[field], !v.isNull, try Self.number(o, field, default: used) != used {
                    notes.append("\(field) ignored: the hires pass used \(own) \(GeneratedImage.number(used))")
                }
            }
            if let scheduler = try Self.string(o, "hr_scheduler"), !["", "automatic", "simple", "use same scheduler"].contains(scheduler.lowercased()) {
                notes.append("hr_scheduler \"\(scheduler.prefix(40))\" is not available; the hires pass ran Simple")
            }
        }

        var requests: [GenerationRequest] = []
        let seed = try Self.seed(o)
        // A1111's info JSON carries seeds as signed 64-bit integers (its clients read them back as such).
        if seed > UInt64(Int64.max) - UInt64(batchSize * iterations - 1) {
            throw A1111Error.invalid("seed", "seed must be -1 (random) or 0 … \(Int64.max) on this API, with room for the "
                                     + "batch's \(batchSize * iterations) seeds seed, seed+1, …; got \(seed)")
        }
        for k in 0..<(batchSize * iterations) {
            var r = base
            r.seed = seed &+ UInt64(k)
            if img2img {
                let picture = inits[k % inits.count]
                switch d.conditioning {
                case .kontext:
                    // Kontext edits the picture it is given: init_images are its reference.
                    if mask != nil { throw A1111Error.invalid("mask", "a FLUX.1 Kontext model edits the whole reference picture: send no mask") }
                    r.conditioning = ImageConditioning(reference: picture)
                case .control:
                    // A Canny/Depth model starts from noise, never from a picture: as the ControlNet
                    // extension does without a unit picture, the init picture is the control picture.
                    if mask != nil { throw A1111Error.invalid("mask", "a FLUX.1 Canny/Depth model paints the whole picture: send no mask") }
                    guard controlUnit == nil else {
                        throw A1111Error.invalid("init_images", "a FLUX.1 Canny/Depth model does not start from a picture: use txt2img with the ControlNet unit, or img2img without one (the init picture is then the control picture)")
                    }
                    r.conditioning = ImageConditioning(control: picture)
                case .base, .fill:
                    // A1111 resizes the mask to the picture (Lanczos); it was refused when the sizes differed.
                    let fitted = try mask.map { m in (m.width, m.height) == (picture.width, picture.height) ? m : try m.resized(width: picture.width, height: picture.height) }
                    if let m = mask, (m.width, m.height) != (picture.width, picture.height), k < inits.count {
                        notes.append("mask resized from \(m.width)x\(m.height) to init_images[\(k)]'s \(picture.width)x\(picture.height), as A1111 does")
                    }
                    var c = ImageConditioning(image: picture, mask: fitted)
                    c.strength = denoisingStrength
                    // A1111 pastes the picture back outside the mask: its clients expect the rest untouched.
                    c.keepUnmasked = fitted != nil
                    c.maskBlur = mask == nil ? 0 : try Self.maskBlur(o, notes: &notes, first: k == 0)
                    r.conditioning = c
                }
            }
            if let controlUnit {
                var c = r.conditioning ?? ImageConditioning()
                c.control = controlUnit.picture
                c.controlPreprocess = controlUnit.preprocess
                r.conditioning = c
            }
            let natural = r.conditioning.flatMap(ConditioningSize.natural)
            r.width = width ?? natural?.width ?? d.imageSize
            r.height = height ?? natural?.height ?? d.imageSize
            r.hires = hiresFix
            requests.append(r)
        }
        do {
            var limits = parser.limits
            limits.allowsEmptyPrompt = true  // A1111's prompt defaults to "" (upscaling img2img sends none)
            for r in requests.prefix(img2img ? inits.count : 1) {
                if r.conditioning != nil { try limits.check(r.withSmallestSize, preset: d) }
                try limits.check(r, preset: d)
            }
        } catch let issue as GenerationIssue {
            let field = Self.a1111Name(issue.field)
            throw A1111Error.invalid(field, issue.message(calling: field))
        }
        pictures = requests
        self.notes = notes
    }

    /// The hires fix of a txt2img body (`enable_hr`) for a first pass of `width` x `height`, as A1111's
    /// calculate_target_resolution sizes it; sizes are floored to multiples of 16 (a note says so).
    static func hires(_ o: [String: JSONValue], width: Int, height: Int, resize: (x: Int, y: Int), strength: Float,
                      notes: inout [String]) throws -> HiresFix {
        let name = try string(o, "hr_upscaler") ?? "Latent"
        guard let upscaler = HiresUpscaler(name: name) else {
            throw A1111Error.invalid("hr_upscaler", "could not find upscaler named \"\(name.prefix(60))\"; this server has "
                                     + HiresUpscaler.all.map { "\"\($0.name)\"" }.joined(separator: ", "))
        }
        let steps = try integer(o, "hr_second_pass_steps", default: 0)
        guard steps >= 0, steps <= GenerationLimits.steps.upperBound else {
            throw A1111Error.invalid("hr_second_pass_steps", "hr_second_pass_steps must be 0 (the same as steps) to \(GenerationLimits.steps.upperBound), got \(steps)")
        }
        let prompt = try string(o, "prompt") ?? "", negative = try string(o, "negative_prompt") ?? ""
        for (field, text, main) in [("hr_prompt", try string(o, "hr_prompt") ?? "", prompt), ("hr_negative_prompt", try string(o, "hr_negative_prompt") ?? "", negative)]
        where !text.isEmpty && text != main {
            throw A1111Error.invalid(field, "a second prompt for the hires pass is not available on this server: leave \(field) empty")
        }
        if let sampler = try string(o, "hr_sampler_name"), !["", "euler", "use same sampler"].contains(sampler.lowercased()) {
            notes.append("hr_sampler_name \"\(sampler.prefix(40))\" is not available; the hires pass ran Euler")
        }
        if let checkpoint = try string(o, "hr_checkpoint_name"), !["", "use same checkpoint"].contains(checkpoint.lowercased()) {
            notes.append("hr_checkpoint_name ignored: the hires pass ran this server's model")
        }
        var fix: HiresFix
        var asked: (Int, Int)
        if resize.x == 0 && resize.y == 0 {
            let scale = try number(o, "hr_scale", default: 2)
            guard scale > 0, scale <= 16 else { throw A1111Error.invalid("hr_scale", "hr_scale must be above 0 and at most 16, got \(scale)") }
            fix = .scaled(width: width, height: height, by: scale, steps: steps == 0 ? nil : steps, strength: strength, upscaler: upscaler)
            asked = (Int(Double(width) * Double(scale)), Int(Double(height) * Double(scale)))
        } else {
            for (field, v) in [("hr_resize_x", resize.x), ("hr_resize_y", resize.y)] where !(0...GenerationLimits.sides.upperBound).contains(v) {
                throw A1111Error.invalid(field, "\(field) must be between 0 and \(GenerationLimits.sides.upperBound), got \(v)")
            }
            fix = .resized(width: width, height: height, toWidth: resize.x, toHeight: resize.y, steps: steps == 0 ? nil : steps,
                           strength: strength, upscaler: upscaler)
            asked = (resize.x == 0 ? resize.y * width / max(height, 1) : resize.x, resize.y == 0 ? resize.x * height / max(width, 1) : resize.y)
        }
        if fix.width < GenerationLimits.sides.lowerBound || fix.height < GenerationLimits.sides.lowerBound {
            let field = resize.x == 0 && resize.y == 0 ? "hr_scale" : resize.x != 0 ? "hr_resize_x" : "hr_resize_y"
            throw A1111Error.invalid(field, "the hires size would be \(asked.0)x\(asked.1), \(fix.width)x\(fix.height) in multiples of 16: each side must be at least \(GenerationLimits.sides.lowerBound)")
        }
        if asked != (fix.width, fix.height) {
            notes.append("hires size \(asked.0)x\(asked.1) ran as \(fix.width)x\(fix.height) (Flux needs multiples of 16)")
        }
        return fix
    }

    /// Our field names as A1111 calls them.
    static func a1111Name(_ f: GenerationIssue.Field) -> String {
        switch f {
        case .guidance: return "distilled_cfg_scale"
        case .trueCFGScale: return "cfg_scale"
        case .image: return "init_images"
        case .strength: return "denoising_strength"
        case .size: return "width"
        case .hires: return "enable_hr"
        case .control: return "alwayson_scripts.controlnet.args[0].image"
        case .reference: return "init_images"
        default: return f.rawValue
        }
    }

    // MARK: Fields

    static func seed(_ o: [String: JSONValue]) throws -> UInt64 {
        do { return try JobRequestParser.seed(o["seed"]) } catch let e as APIError { throw A1111Error.invalid("seed", e.message) }
    }

    static func string(_ o: [String: JSONValue], _ name: String) throws -> String? {
        switch o[name] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        case let v?: throw A1111Error.invalid(name, "\(name) must be a string, got \(JobRequestParser.shown(v))")
        }
    }

    static func integer(_ o: [String: JSONValue], _ name: String, default d: Int) throws -> Int {
        do { return try JobRequestParser.integer(o[name], name, default: d) } catch let e as APIError { throw A1111Error.invalid(name, e.message) }
    }

    static func optionalInteger(_ o: [String: JSONValue], _ name: String) throws -> Int? {
        do { return try JobRequestParser.optionalInteger(o[name], name) } catch let e as APIError { throw A1111Error.invalid(name, e.message) }
    }

    static func number(_ o: [String: JSONValue], _ name: String, default d: Float) throws -> Float {
        do { return try JobRequestParser.number(o[name], name, default: d) } catch let e as APIError { throw A1111Error.invalid(name, e.message) }
    }

    static func bool(_ o: [String: JSONValue], _ name: String, default d: Bool) throws -> Bool {
        switch o[name] {
        case nil, .null?: return d
        case .bool(let b)?: return b
        case let v?: throw A1111Error.invalid(name, "\(name) must be true or false, got \(JobRequestParser.shown(v))")
        }
    }

    /// The mask as A1111 reads it (`create_binary_mask`): a picture with transparency is its alpha
    /// channel (opaque = repaint), anything else its grey levels. An alpha-only mask (black, the area
    /// opaque) was refused as all black, and a white one with a transparent hole repainted everything.
    static func a1111Mask(_ m: PNGImage) throws -> PNGImage {
        guard m.hasTransparency, let alpha = m.alpha() else { return m }
        return try PNGImage.gray(alpha, width: m.width, height: m.height)
    }

    /// `mask_blur`, or A1111's separate `mask_blur_x` / `mask_blur_y` (default 4 each) when it is not
    /// given: one blur here, the larger, with a note when they differ (they were ignored).
    static func maskBlur(_ o: [String: JSONValue], notes: inout [String], first: Bool) throws -> Int {
        if let v = o["mask_blur"], !v.isNull { return try integer(o, "mask_blur", default: 4) }
        let x = try integer(o, "mask_blur_x", default: 4), y = try integer(o, "mask_blur_y", default: 4)
        if x != y && first { notes.append("mask_blur_x \(x) and mask_blur_y \(y): the blur here is the same in both directions; used \(max(x, y))") }
        return max(x, y)
    }

    /// The ControlNet extension's first enabled unit (`alwayson_scripts.controlnet.args[0]`): its
    /// picture (`image` or `input_image`, base64, or `image.image`) and whether it asks for Canny
    /// edges (`module` "canny"; other modules give the picture as it is, with no preprocessing here).
    static func controlNetUnit(_ o: [String: JSONValue], images: JobImages) throws -> (picture: PNGImage, preprocess: ControlPreprocess?)? {
        guard let scripts = o["alwayson_scripts"]?.object,
              let controlnet = scripts.first(where: { $0.key.lowercased() == "controlnet" })?.value.object,
              let units = controlnet["args"]?.array else { return nil }
        guard let unit = units.compactMap(\.object).first(where: { $0["enabled"]?.bool ?? true }) else { return nil }
        let field = "alwayson_scripts.controlnet.args[0].image"
        guard let text = unit["image"]?.string ?? unit["input_image"]?.string ?? unit["image"]?.object?["image"]?.string else {
            throw A1111Error.invalid(field, "the ControlNet unit has no picture: give it as image (base64)")
        }
        let picture = try Self.picture(text, field: field, label: field, images: images)
        let module = (unit["module"]?.string ?? "none").lowercased()
        if module.contains("canny") {
            // The extension sends -1 for thresholds it does not use: those (and anything off 1...255) take FLUX.1-Canny's.
            func threshold(_ key: String, _ usual: Int) -> Int {
                guard let v = unit[key]?.double, v.isFinite, v >= 1, v <= 255 else { return usual }
                return Int(v)
            }
            let (low, high) = (threshold("threshold_a", 50), threshold("threshold_b", 200))
            return (picture, .canny(low: min(low, high), high: max(low, high)))
        }
        return (picture, nil)
    }

    static func picture(_ text: String, field: String, label: String, images: JobImages) throws -> PNGImage {
        do {
            return try images.picture(try images.base64(text, field: label), field: label)
        } catch let e as APIError where e.status == .badRequest {
            throw A1111Error.invalid(field, e.message)
        }
    }
}
