import Tensor

/// Low-VRAM mode (`vramBudget`): each stage's share of the device budget.
extension FluxPipeline {
    /// Under a VRAM budget: returns cached device blocks to the driver, caps the allocator at the
    /// budget less what the driver counts outside it (context, modules, other processes), and
    /// returns the bytes still free within the budget. nil without a budget. On the CPU (where the
    /// CLI refuses a budget; tests run the streaming machinery there) nothing is counted.
    @discardableResult
    func startDeviceStage() -> Int? {
        guard let budget = vramBudget else { return nil }
        guard let gpu = backend as? CUDABackend else { return budget }
        gpu.emptyCache()
        let outside = gpu.deviceUsedBytes - gpu.reservedBytes
        gpu.allocatorLimit = budget - outside
        return budget - outside - gpu.reservedBytes
    }

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
