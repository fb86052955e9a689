extension GenerationLimits {
    /// The hires fix against the limits: its final size as a picture's (multiples of 16, the pixel
    /// limit), its steps and strength; text-to-image only (a request with input pictures has no first
    /// pass of its own to upscale).
    func checkHires(_ r: GenerationRequest) throws {
        guard let h = r.hires else { return }
        typealias I = GenerationIssue
        if let c = r.conditioning, !c.isEmpty {
            throw I(.hires, "works on text-to-image only: leave it out with input pictures (\(c.mode.rawValue))")
        }
        for (name, v) in [("width", h.width), ("height", h.height)] {
            if v < Self.sides.lowerBound || v % 16 != 0 { throw I(.hires, "\(name) must be a positive multiple of 16, got \(v)") }
            if v > Self.sides.upperBound { throw I(.hires, "\(name) must be at most \(Self.sides.upperBound), got \(v)") }
        }
        if h.width * h.height > maxPixels {
            throw I(.hires, "size \(h.width)x\(h.height) is \(h.width * h.height) pixels, above \(pixelLimitName) of \(maxPixels)"
                    + (pixelLimitSetting.map { " (\($0))" } ?? ""))
        }
        if let steps = h.steps, !Self.steps.contains(steps) { throw I(.hires, "steps " + Self.between(Self.steps, got: "\(steps)")) }
        if !(h.strength.isFinite && h.strength > 0 && h.strength <= 1) {
            throw I(.hires, "strength must be above 0 and at most 1, got \(h.strength)")
        }
        let steps = h.steps ?? r.steps
        if FluxPipeline.firstStep(steps: steps, strength: h.strength) >= steps {
            throw I(.hires, "strength \(h.strength) leaves none of the \(steps) steps to run: raise the strength or the steps")
        }
    }
}
