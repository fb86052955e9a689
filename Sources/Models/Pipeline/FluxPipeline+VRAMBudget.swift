import Tensor

/// Low-VRAM mode (`vramBudget`): the sizes each stage's share of the device budget is planned with
/// (the bookkeeping itself is StageCache+DeviceStages.swift).
extension FluxPipeline {
    /// Device memory a budget leaves unplanned for the driver's own rounding and pools.
    public static let vramMargin = 256 << 20

    /// Device bytes the DiT's activations need for `tokens` joint tokens in bf16 (estimate: the
    /// widest block's live tensors, the fp8 activation codes, allocator rounding).
    public static func ditDeviceWorkingBytes(_ c: FluxConfig, tokens: Int) -> Int {
        let d = c.hiddenSize, m = c.mlpHiddenSize
        return tokens * (3 * d + m) * 2 * 3 + tokens * d * 2 * 12 + (128 << 20)
    }

    /// Device bytes T5's activations need for `tokens` tokens (f32 hidden states, attention scores,
    /// the feed-forward's two projections), plus slack.
    public static func t5DeviceWorkingBytes(_ c: T5Config, tokens: Int) -> Int {
        tokens * (c.dModel * 8 + c.dFF * 3) * 4 + tokens * tokens * c.numHeads * 4 * 2 + (128 << 20)
    }
}
