import Tensor
import Quant

/// Model architectures (CLIP, T5, Flux DiT, AutoencoderKL), tokenizers, scheduler and pipeline.
public enum Models {}
