import Quant
import Tensor

extension FluxCheckpointLayout {
    /// A diffusers `transformer/` checkpoint presented under BFL names (q, k, v fused into qkv, the
    /// final modulation's halves swapped), for `majicflux quantize` to write it as a single-file DiT:
    /// the layout ComfyUI, ComfyUI-GGUF and this loader read, so the file loads with its layers still
    /// quantized. nil for a checkpoint in another layout (BFL, ComfyUI, or no Flux DiT: kept as it is).
    public static func bflSource(of checkpoint: SafeTensorsCheckpoint, description: String) throws -> TensorSource? {
        let weights = CheckpointWeights(checkpoint: checkpoint)
        guard detect(weights.names) == .diffusers else { return nil }
        return WeightSourceTensors(try canonical(weights), description: description)
    }
}
