import Tensor

/// Quantisation: float8 formats, scales, int8/int4 blocks and quantized weights.
public enum Quant {}
