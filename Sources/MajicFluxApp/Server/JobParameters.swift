import Models

/// A job's parameters as the API shows them (snake_case JSON); the seed is the one actually used.
struct JobParameters: Codable, Equatable, Sendable {
    var prompt: String
    var negative_prompt: String
    var seed: UInt64
    var steps: Int
    var width: Int
    var height: Int
    var guidance: Float
    var true_cfg_scale: Float
    var max_sequence_length: Int
    /// "model" or "diffsynth".
    var schedule: String
    /// The DiffSynth shift; nil for the model's schedule.
    var shift: Float?
    /// The LoRAs of the LoRA folder it used, in order; empty for none (and for entries made before
    /// the console had LoRAs).
    var loras: [JobLoRA] = []
    /// The input pictures and their options; nil for text-to-image. In the history, each input's
    /// `file` and `url` say where its PNG is kept.
    var conditioning: JobConditioning?
    /// The First-Block-Cache threshold; nil when off.
    var cache_threshold: Float?
    /// The hires fix; nil for one pass.
    var hires: JobHires?
    /// Jobs with the same group (an A1111 `batch_size` batch, the console's batch count) differ only
    /// in their seeds: a worker claims the queued ones together and makes them in one pass
    /// (`JobStore.claimBatch`). nil: a job of its own.
    var batch_group: String?

    init(_ r: GenerationRequest) {
        prompt = r.prompt
        negative_prompt = r.negativePrompt
        seed = r.seed
        steps = r.steps
        width = r.width
        height = r.height
        guidance = r.guidance
        true_cfg_scale = r.trueCFGScale
        max_sequence_length = r.maxSequenceLength
        switch r.schedule {
        case .model: schedule = "model"; shift = nil
        case .diffSynth(let s): schedule = "diffsynth"; shift = s
        }
        loras = (r.loras ?? []).map { JobLoRA(name: $0.lora.name, weight: $0.weight) }
        conditioning = JobConditioning(r.conditioning)
        cache_threshold = r.cacheThreshold > 0 ? r.cacheThreshold : nil
        hires = r.hires.map(JobHires.init)
    }

    private enum CodingKeys: String, CodingKey {
        case prompt, negative_prompt, seed, steps, width, height, guidance, true_cfg_scale, max_sequence_length, schedule, shift, loras, conditioning, cache_threshold, hires, batch_group
    }

    /// As synthesized, except that `loras` and `conditioning` may be missing (older history entries
    /// and PNGs), and a `conditioning` or `hires` that cannot be read is left out rather than losing the entry.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decode(String.self, forKey: .prompt)
        negative_prompt = try c.decode(String.self, forKey: .negative_prompt)
        seed = try c.decode(UInt64.self, forKey: .seed)
        steps = try c.decode(Int.self, forKey: .steps)
        width = try c.decode(Int.self, forKey: .width)
        height = try c.decode(Int.self, forKey: .height)
        guidance = try c.decode(Float.self, forKey: .guidance)
        true_cfg_scale = try c.decode(Float.self, forKey: .true_cfg_scale)
        max_sequence_length = try c.decode(Int.self, forKey: .max_sequence_length)
        schedule = try c.decode(String.self, forKey: .schedule)
        shift = try c.decodeIfPresent(Float.self, forKey: .shift)
        loras = try c.decodeIfPresent([JobLoRA].self, forKey: .loras) ?? []
        conditioning = try? c.decodeIfPresent(JobConditioning.self, forKey: .conditioning)
        cache_threshold = try c.decodeIfPresent(Float.self, forKey: .cache_threshold)
        hires = try? c.decodeIfPresent(JobHires.self, forKey: .hires)
        batch_group = try c.decodeIfPresent(String.self, forKey: .batch_group)
    }

    /// The request without its LoRAs (those need their files: `LoRALibrary`) and pictures.
    var request: GenerationRequest {
        var r = GenerationRequest(prompt: prompt, seed: seed, steps: steps, width: width, height: height)
        r.negativePrompt = negative_prompt
        r.guidance = guidance
        r.trueCFGScale = true_cfg_scale
        r.maxSequenceLength = max_sequence_length
        r.schedule = schedule == "diffsynth" ? .diffSynth(shift: shift ?? 3) : .model
        r.cacheThreshold = cache_threshold ?? 0
        r.hires = hires?.fix
        return r
    }
}

/// One LoRA of a job: a name from the LoRA folder (`GET /api/loras`) and its weight.
struct JobLoRA: Codable, Equatable, Sendable {
    var name: String
    var weight: Float
}
