import Tensor

/// Low-VRAM mode (`vramBudget`): each stage's share of the device budget.
extension FluxPipeline {
    /// On a backend with its own memory (`DeviceMemoryInfo`: a GPU): returns cached device blocks to the driver. Under a VRAM budget also caps the
    /// allocator at the budget less what the driver counts outside it (context, modules, other
    /// processes), and returns the bytes still free within the budget. nil without a budget. On the
    /// CPU (where the CLI refuses a budget; tests run the streaming machinery there) nothing is counted.
    ///
    /// `stage` names the stage for `stagePeaks` (recorded on a GPU with or without a budget): the peak
    /// of the stage before it is recorded first.
    /// `vramMargin` stays unplanned: the driver counts memory in pages and keeps its own pools, so
    /// its count runs ahead of the bytes we ask for (by 0.05-0.15 GiB at a 6 GiB budget on an H200).
    @discardableResult
    func startDeviceStage(_ stage: String) -> Int? {
        let gpu = backend as? any DeviceMemoryInfo
        if let gpu {
            endDeviceStage()
            // The previous stage's freed blocks go back to the driver: kept in the cache they would
            // count towards this stage's peak (T5's 10 GB under the DiT's, say).
            gpu.emptyCache()
            _ = gpu.takeWindowPeakDeviceUsed()
            currentStage = stage
        }
        guard let budget = vramBudget else { return nil }
        guard var gpu else { return budget }
        let usable = budget - FluxPipeline.vramMargin
        let outside = gpu.deviceUsedBytes - gpu.reservedBytes
        gpu.allocatorLimit = usable - outside
        return usable - outside - gpu.reservedBytes
    }

    /// Records the running stage's driver-counted peak in `stagePeaks` (on a GPU).
    func endDeviceStage() {
        guard let stage = currentStage, let gpu = backend as? any DeviceMemoryInfo else { return }
        stagePeaks.append((stage, gpu.takeWindowPeakDeviceUsed()))
        currentStage = nil
    }

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
