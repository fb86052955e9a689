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
    }

    var request: GenerationRequest {
        var r = GenerationRequest(prompt: prompt, seed: seed, steps: steps, width: width, height: height)
        r.negativePrompt = negative_prompt
        r.guidance = guidance
        r.trueCFGScale = true_cfg_scale
        r.maxSequenceLength = max_sequence_length
        r.schedule = schedule == "diffsynth" ? .diffSynth(shift: shift ?? 3) : .model
        return r
    }
}
