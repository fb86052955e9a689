extension FluxPipeline {
    /// A request for `prompt` with the loaded model's settings (`preset`): its steps, size,
    /// guidance, T5 length and schedule. Change any field before `generate`.
    public func request(prompt: String, seed: UInt64 = 0) -> GenerationRequest {
        GenerationRequest(prompt: prompt, preset: preset, seed: seed)
    }

    /// Checks `request` against `GenerationLimits` and this model's preset (`GenerationIssue`).
    public func check(_ request: GenerationRequest, limits: GenerationLimits = GenerationLimits()) throws {
        try limits.check(request, preset: preset)
    }
}
