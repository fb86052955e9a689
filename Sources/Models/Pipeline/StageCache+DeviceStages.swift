import Tensor

/// Device stages: on a backend with its own memory (`DeviceMemoryInfo`), each stage starts with the
/// cache returned and, under a budget, the allocator capped; its peak is recorded when it ends.
extension StageCache {
    /// Returns cached device blocks to the device. Under a VRAM budget also caps the allocator at
    /// the budget less what the device counts outside it (context, modules, other processes), and
    /// returns the bytes still free within the budget. nil without a budget. On a backend without
    /// `DeviceMemoryInfo` (the CPU, where the CLI refuses a budget; tests run the streaming
    /// machinery there) nothing is counted and the whole budget is free.
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
        guard let gpu else { return budget }
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
}
