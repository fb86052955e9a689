import Tensor

/// Low-VRAM mode (`vramBudget`): the sizes each stage's share of the device budget is planned with
/// (the bookkeeping itself is StageCache+DeviceStages.swift).
extension FluxPipeline {
    /// Device memory a budget leaves unplanned for the driver's own rounding and pools.
    public static let vramMargin = 256 << 20

    /// Device bytes the DiT's activations need for `tokens` joint tokens in bf16 (estimate: the
    /// widest block's live tensors, the fp8 activation codes, allocator rounding). At 4096 + 512
    /// tokens: 0.71 GiB, against 0.4 GB measured on an H200 (peak in use less weights, `cuda-check
    /// stream`; BENCHMARKS.md); it was 1.0 GiB, and the 0.3 GiB given back keeps blocks resident.
    public static func ditDeviceWorkingBytes(_ c: FluxConfig, tokens: Int) -> Int {
        let d = c.hiddenSize, m = c.mlpHiddenSize
        // Two tensors of a single block's linear1 width, eight of the hidden width, slack.
        return tokens * (3 * d + m) * 2 * 2 + tokens * d * 2 * 8 + (128 << 20)
    }

    /// Slots a streaming DiT's blocks take turns in: one more than the two that overlap one copy
    /// with one block's compute, so the copy queue keeps working through short runs of resident
    /// blocks (Tools/stream_plan_model.py: FLUX.1-dev fp8 within 6 GiB, 1.10x the resident step with
    /// 3 slots, 1.14x with 2, 1.11x with 4, at 50 GB/s).
    public static let ditStreamingSlots = 3

    /// Device bytes T5's activations need for `tokens` tokens (f32 hidden states, attention scores,
    /// the feed-forward's two projections), plus slack.
    public static func t5DeviceWorkingBytes(_ c: T5Config, tokens: Int) -> Int {
        tokens * (c.dModel * 8 + c.dFF * 3) * 4 + tokens * tokens * c.numHeads * 4 * 2 + (128 << 20)
    }
}
