#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Contents of a diffusers `scheduler/scheduler_config.json` for `FlowMatchEulerDiscreteScheduler`.
public struct FlowMatchSchedulerConfig: Codable, Sendable, Equatable {
    public var numTrainTimesteps: Int = 1000
    public var shift: Double = 1.0
    public var useDynamicShifting: Bool = false
    public var baseShift: Double = 0.5
    public var maxShift: Double = 1.15
    public var baseImageSeqLen: Int = 256
    public var maxImageSeqLen: Int = 4096

    enum CodingKeys: String, CodingKey {
        case numTrainTimesteps = "num_train_timesteps", shift
        case useDynamicShifting = "use_dynamic_shifting"
        case baseShift = "base_shift", maxShift = "max_shift"
        case baseImageSeqLen = "base_image_seq_len", maxImageSeqLen = "max_image_seq_len"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numTrainTimesteps = try c.decodeIntIfPresent(.numTrainTimesteps) ?? 1000
        shift = try c.decodeIfPresent(Double.self, forKey: .shift) ?? 1.0
        useDynamicShifting = try c.decodeIfPresent(Bool.self, forKey: .useDynamicShifting) ?? false
        baseShift = try c.decodeIfPresent(Double.self, forKey: .baseShift) ?? 0.5
        maxShift = try c.decodeIfPresent(Double.self, forKey: .maxShift) ?? 1.15
        baseImageSeqLen = try c.decodeIntIfPresent(.baseImageSeqLen) ?? 256
        maxImageSeqLen = try c.decodeIntIfPresent(.maxImageSeqLen) ?? 4096
    }

    /// FLUX.1-dev's shipped config: dynamic shifting between 0.5 (256 tokens) and 1.15 (4096 tokens).
    public static let fluxDev: FlowMatchSchedulerConfig = {
        var c = FlowMatchSchedulerConfig()
        c.shift = 3.0
        c.useDynamicShifting = true
        return c
    }()

    /// FLUX.1-schnell's shipped config: no shifting.
    public static let fluxSchnell = FlowMatchSchedulerConfig()

    /// Reads a `scheduler_config.json` and checks its values (`validate(path:)`).
    public static func load(path: String) throws -> FlowMatchSchedulerConfig {
        try ConfigFile.load(FlowMatchSchedulerConfig.self, path: path, what: "scheduler config")
    }
}

extension FlowMatchSchedulerConfig: ValidatedConfig {
    /// Checks the values a schedule is computed from. The dynamic shift interpolates between
    /// (`base_image_seq_len`, `base_shift`) and (`max_image_seq_len`, `max_shift`), so the two lengths
    /// must differ (equal ones divide by zero: an all-black picture); shifts are bounded so that
    /// e^mu stays finite in float32 for any image size a request allows.
    public func validate(path: String) throws {
        let c = ConfigCheck(path: path)
        try c.int("num_train_timesteps", numTrainTimesteps, 1...1_000_000)
        try c.positive("shift", shift, max: 1000)
        try c.double("base_shift", baseShift, -10...10)
        try c.double("max_shift", maxShift, -10...10)
        try c.int("base_image_seq_len", baseImageSeqLen, ConfigBounds.tokens)
        try c.int("max_image_seq_len", maxImageSeqLen, ConfigBounds.tokens)
        if useDynamicShifting && maxImageSeqLen <= baseImageSeqLen {
            throw c.error("max_image_seq_len", "(\(maxImageSeqLen)) must be greater than base_image_seq_len (\(baseImageSeqLen)) for use_dynamic_shifting")
        }
    }
}

/// The sigma schedule of a flow-matching Euler sampler: `sigmas[0] = ~1` (pure noise) down to a
/// final 0. The model is called at `sigmas[i]` for i < steps; Euler moves `x += (sigmas[i+1] - sigmas[i]) * v`.
public struct FlowMatchSchedule: Sendable, Equatable {
    /// steps + 1 values, the last one 0.
    public let sigmas: [Float]

    /// The schedule diffusers' FluxPipeline builds: linspace(1, 1/N, N) in float64, cast to float32,
    /// shifted in float32 (dynamic: e^mu / (e^mu + (1/s - 1)), mu from the image token count;
    /// static: shift*s / (1 + (shift-1)*s)), then a final 0 appended.
    public init(steps: Int, imageSeqLen: Int, config: FlowMatchSchedulerConfig) {
        precondition(steps >= 1, "steps must be at least 1")
        var s = linspace(1.0, 1.0 / Double(steps), steps).map { Float($0) }
        if config.useDynamicShifting {
            let m = (config.maxShift - config.baseShift) / Double(config.maxImageSeqLen - config.baseImageSeqLen)
            let b = config.baseShift - m * Double(config.baseImageSeqLen)
            let mu = Double(imageSeqLen) * m + b
            let e = Float(exp(mu))
            s = s.map { e / (e + (1 / $0 - 1)) }
        } else if config.shift != 1.0 {
            let shift = Float(config.shift)
            s = s.map { shift * $0 / (1 + (shift - 1) * $0) }
        }
        sigmas = s + [0]
    }

    /// DiffSynth's static schedule (the seed system): sigma_min = 0.003/1.002,
    /// linspace(1, sigma_min, N), shifted by `shift` (3): s' = shift*s / (1 + (shift-1)*s), then 0.
    public init(diffSynthSteps steps: Int, shift: Float = 3) {
        precondition(steps >= 1, "steps must be at least 1")
        let sigmaMin = 0.003 / 1.002
        let s = linspace(1.0, sigmaMin, steps).map { Float($0) }
        sigmas = s.map { shift * $0 / (1 + (shift - 1) * $0) } + [0]
    }

    /// Number of model evaluations.
    public var steps: Int { sigmas.count - 1 }

    /// True when every sigma is a number in [0, 1] (a shift that overflows float32 makes NaNs, which
    /// decode to a black picture).
    public var isUsable: Bool { sigmas.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 } }

    /// The timestep value handed to the model at step `i`, as diffusers computes it in float32:
    /// `(sigma * 1000) / 1000` (the model multiplies by 1000 again inside its time embedding).
    public func modelTimestep(_ i: Int) -> Float { (sigmas[i] * 1000) / 1000 }
}

/// numpy.linspace in float64: start + i * step, with the last value exactly `stop`.
func linspace(_ start: Double, _ stop: Double, _ n: Int) -> [Double] {
    if n == 1 { return [start] }
    let step = (stop - start) / Double(n - 1)
    var v = (0..<n).map { Double($0) * step + start }
    v[n - 1] = stop
    return v
}
