import ArgumentParser
import Models

/// `generate`'s hires fix options (A1111's "Hires. fix"): make the picture at --width x --height,
/// upscale it, and run part of a second schedule at the larger size.
struct HiresOptions: ParsableArguments {
    @Option(name: .customLong("hires-scale"), parsing: .unconditional, help: ArgumentHelp("Hires fix: upscale the picture by this factor (each side floored to a multiple of 16) and refine it with part of a second schedule.", valueName: "FACTOR"))
    var scale: Float?
    @Option(name: .customLong("hires-size"), help: ArgumentHelp("Hires fix to this final size (multiples of 16; another aspect ratio is covered and cropped around the centre).", valueName: "WxH"))
    var size: String?
    @Option(name: .customLong("hires-steps"), parsing: .unconditional, help: ArgumentHelp("Hires fix: steps of the second schedule (default: --steps); the last --hires-strength of them run.", valueName: "N"))
    var steps: Int?
    @Option(name: .customLong("hires-strength"), parsing: .unconditional, help: ArgumentHelp("Hires fix: how much of the second schedule runs, above 0 and at most 1 (A1111's denoising strength; default \(GeneratedImage.number(HiresFix.defaultStrength))).", valueName: "STRENGTH"))
    var strength: Float?
    @Option(name: .customLong("hires-upscaler"), help: ArgumentHelp("Hires fix upscaler, by its AUTOMATIC1111 name: \(HiresUpscaler.all.map { "\"\($0.name)\"" }.joined(separator: ", ")) (default Latent).", valueName: "NAME"))
    var upscaler: String?

    func validate() throws {
        if scale != nil && size != nil { throw ValidationError("--hires-scale and --hires-size both set the hires fix's size: give one") }
        if scale == nil && size == nil {
            for (given, name) in [(steps != nil, "--hires-steps"), (strength != nil, "--hires-strength"), (upscaler != nil, "--hires-upscaler")] where given {
                throw ValidationError("\(name) sets up the hires fix: add --hires-scale FACTOR or --hires-size WxH")
            }
        }
        if let scale, !(scale.isFinite && scale > 0 && scale <= 16) {
            throw ValidationError("--hires-scale must be above 0 and at most 16, got \(scale)")
        }
        if let size, Self.parseSize(size) == nil { throw ValidationError("--hires-size takes WIDTHxHEIGHT (e.g. 1024x1536), got \"\(size)\"") }
        if let upscaler, Self.upscaler(named: upscaler) == nil {
            throw ValidationError("--hires-upscaler \"\(upscaler)\" is unknown; choose one of \(HiresUpscaler.all.map { "\"\($0.name)\"" }.joined(separator: ", "))")
        }
    }

    /// The hires fix for a first pass of `width` x `height`; nil when not asked for.
    func hires(width: Int, height: Int) -> HiresFix? {
        let upscaler = self.upscaler.flatMap(Self.upscaler(named:)) ?? .latent(.bilinear, antialias: false)
        let strength = self.strength ?? HiresFix.defaultStrength
        if let scale { return .scaled(width: width, height: height, by: scale, steps: steps, strength: strength, upscaler: upscaler) }
        guard let size, let (w, h) = Self.parseSize(size) else { return nil }
        return HiresFix(width: w, height: h, steps: steps, strength: strength, upscaler: upscaler)
    }

    /// An A1111 upscaler name, its case ignored.
    static func upscaler(named name: String) -> HiresUpscaler? {
        HiresUpscaler.all.first { $0.name.lowercased() == name.lowercased() }?.upscaler
    }

    /// "WIDTHxHEIGHT" as two positive integers.
    static func parseSize(_ text: String) -> (Int, Int)? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else { return nil }
        return (w, h)
    }
}
