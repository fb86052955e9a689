import Tensor

/// Which tensors of a checkpoint are quantized, and how.
///
/// The default for the Flux DiT (`fluxDiT`) quantizes the 2-D Linear weights inside the double and
/// single stream blocks (attention qkv/proj, MLPs, modulation, linear1/linear2 and their diffusers
/// equivalents). Biases, norms, the embedders (img_in, txt_in, time_in, vector_in, guidance_in and
/// their diffusers names) and the final layer keep their stored dtype (bf16 in released checkpoints),
/// as in ggml / stable-diffusion.cpp.
public struct QuantPolicy: Sendable {
    /// Format of quantized weights.
    public var format: QuantFormat
    /// Scale granularity of quantized weights.
    public var granularity: ScaleGranularity
    /// e4m3fn overflow rule (used with `.none` scales; scaled weights never overflow).
    public var overflow: Float8Overflow
    /// Decides per tensor name and shape whether to quantize.
    public var selects: @Sendable (_ name: String, _ shape: [Int]) -> Bool

    public init(format: QuantFormat, granularity: ScaleGranularity, overflow: Float8Overflow = .saturate,
                selects: @escaping @Sendable (_ name: String, _ shape: [Int]) -> Bool = QuantPolicy.isFluxBlockLinearWeight) {
        self.format = format
        self.granularity = granularity
        self.overflow = overflow
        self.selects = selects
    }

    /// The default Flux DiT policy with the given format and scale.
    public static func fluxDiT(format: QuantFormat, granularity: ScaleGranularity,
                               overflow: Float8Overflow = .saturate) -> QuantPolicy {
        QuantPolicy(format: format, granularity: granularity, overflow: overflow)
    }

    /// True when tensor `name` (shape `shape`) is quantized under this policy.
    public func shouldQuantize(_ name: String, shape: [Int]) -> Bool { selects(name, shape) }

    /// Prefixes that wrap DiT keys in the wild (ComfyUI full checkpoints, some diffusers exports).
    public static let knownPrefixes = ["model.diffusion_model.", "diffusion_model.", "transformer.", "model."]

    /// `name` without one known wrapper prefix.
    public static func strippingPrefix(_ name: String) -> Substring {
        for p in knownPrefixes where name.hasPrefix(p) { return name.dropFirst(p.count) }
        return Substring(name)
    }

    /// A 2-D `.weight` inside a Flux double/single stream block (BFL or diffusers naming), not a norm.
    @Sendable
    public static func isFluxBlockLinearWeight(_ name: String, shape: [Int]) -> Bool {
        guard shape.count == 2, name.hasSuffix(".weight") else { return false }
        let n = strippingPrefix(name)
        let inBlock = ["double_blocks.", "single_blocks.", "transformer_blocks.", "single_transformer_blocks."]
            .contains { n.hasPrefix($0) }
        return inBlock && !n.contains("norm")
    }
}
