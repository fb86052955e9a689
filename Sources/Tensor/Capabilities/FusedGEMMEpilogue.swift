/// A backend whose GEMM applies bias and GELU in its epilogue and can write into the right-hand
/// columns of a wider matrix (`concatLinearGeluTanh`). A layer whose output is split into a plain
/// part and a GELU part (Flux single blocks' linear1) is then faster as two GEMMs than as one GEMM
/// followed by a split, a GELU and a concatenation. Backends without it (the CPU, whose GEMM is
/// BLAS plus a separate pass) run the one-GEMM form.
///
/// The fused ops themselves (`modulatedLayerNorm`, `gatedResidual`, `linearGeluTanh`,
/// `concatLinearGeluTanh`, `qkNormRoPE`) are requirements of `Backend` with composed defaults
/// (Core/Backend.swift); only Flux uses them. Adopted by `CUDABackend`.
public protocol FusedGEMMEpilogue: Backend {}
