import Tensor

/// LoRAs on a loaded pipeline: attach, change and detach between generations without reloading the
/// model. The DiT and CLIP parts go to their models when those run next (at once when the DiT is
/// loaded, so a LoRA that does not fit is reported here).
extension FluxPipeline {
    /// The LoRAs generations run with.
    public var loras: [LoRAUse] { generationGate.withLock { stages.loras } }

    /// Runs generations with `uses` (replacing those set before; `[]` detaches all). With `fuse`, the
    /// DiT's weights get them merged in when it loads (`--lora-fuse`: fastest, but other LoRAs then
    /// need the DiT loaded again; streamed blocks under a VRAM budget always run them unfused).
    /// Throws, keeping the LoRAs before, when one does not fit the loaded DiT.
    public func setLoRAs(_ uses: [LoRAUse], fuse: Bool = false) throws {
        generationGate.lock(); defer { generationGate.unlock() }
        try applyLoRAs(uses, fuse: fuse)
    }

    /// Per layer, how far the last fused weights are from the exact sum (bf16 rounding or fp8/int8
    /// re-quantisation); empty when the LoRAs run unfused.
    public var loraFusionErrors: [LoRAFusionError] { generationGate.withLock { stages.fusionErrors } }

    /// `setLoRAs` with the gate held (also a request's own LoRAs at the start of `generate`).
    func applyLoRAs(_ uses: [LoRAUse], fuse: Bool) throws {
        let before = (stages.loras, stages.fuseLoRAs)
        (stages.loras, stages.fuseLoRAs) = (uses, fuse)
        do {
            try stages.updateLoadedDiT()
        } catch {
            (stages.loras, stages.fuseLoRAs) = before
            throw error
        }
    }
}
