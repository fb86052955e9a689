import Tensor

/// GGUF layers on fp8 tensor cores (`computesInFP8`, `BlockFP8Expanding`): the blocks expand straight
/// to e4m3 codes (one scale per tensor, or per output row with `fp8RowScales`) and the fp8 GEMM runs,
/// about as fast as an fp8 model at the cost of e4m3's rounding on top of the format's own; and LoRA
/// updates added into the layer's output.
extension GGUFLinear {
    /// The backend to run this layer's fp8 path on, when it is asked for and the device has it.
    private func fp8Backend(_ x: Tensor) -> (any BlockFP8Expanding)? {
        guard computesInFP8, let b = blocks.backend as? any BlockFP8Expanding, b.expandsBlocksToFP8,
              x.device == blocks.device else { return nil }
        return b
    }

    /// e4m3 codes and scale(s) of this layer, the scales computed once.
    private func e4m3(_ b: any BlockFP8Expanding) -> (codes: Tensor, scale: Tensor) {
        // A copy switched to the other scaling shares the box: a kept scale of the wrong kind is not used.
        let perRow = fp8RowScales
        let kept = fp8Scale.withLock { $0 }.flatMap { $0.perRow == perRow ? $0.scale : nil }
        let r = b.blocksToE4M3(blocks, format: format, rows: outFeatures, columns: inFeatures, scale: kept, perRow: perRow)
        if kept == nil { fp8Scale.withLock { $0 = (perRow, r.scale) } }
        return r
    }

    /// y = x Wᵀ + b [-> tanh-GELU] on fp8 tensor cores; nil when this layer does not run in fp8.
    func fp8Forward(_ x: Tensor, gelu: Bool) -> Tensor? {
        guard let b = fp8Backend(x) else { return nil }
        let (codes, scale) = e4m3(b)
        return b.fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: gelu, into: nil, ldc: nil)
    }

    /// Whether `fp8Layer(for:)` gives a layer: this layer runs in fp8 with one scale for the tensor.
    func runsFP8PerTensor(_ x: Tensor) -> Bool { !fp8RowScales && fp8Backend(x) != nil }

    /// This layer as an `FP8Linear` (its blocks expanded to e4m3 now, as each fp8 call does) for GEMMs
    /// on a shared quantised activation (`FP8Linear.sharedQuantization`); nil unless `runsFP8PerTensor`.
    func fp8Layer(for x: Tensor) -> FP8Linear? {
        guard runsFP8PerTensor(x), let b = fp8Backend(x) else { return nil }
        let (codes, scale) = e4m3(b)
        return FP8Linear(codes: codes, scale: scale, bias: bias, geluScale: geluScale, inputScale: inputScale)
    }

    /// [prefix | gelu_tanh(x Wᵀ + b)] on fp8 tensor cores; nil when this layer does not run in fp8.
    func fp8ConcatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor? {
        guard let b = fp8Backend(x) else { return nil }
        let (codes, scale) = e4m3(b)
        return b.fp8ConcatLinearGeluTanh(prefix, x, codes: codes, scale: scale, bias: bias)
    }

    /// out += x Wᵀ + b (a LoRA's update written first, `LinearAccumulating`), with the layer expanded
    /// to the compute dtype; false where the backend cannot accumulate.
    public func accumulate(_ x: Tensor, into out: Tensor, ldc: Int, gelu: Bool) -> Bool {
        guard let acc = out.backend as? any LinearAccumulating, !onHost(x) else { return false }
        // The fp8 GEMM adds into `out` only with a per-tensor scale; per-row layers take the exact path.
        if let b = fp8Backend(x) {
            let (codes, scale) = e4m3(b)
            if acc.fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: gelu, into: out, ldc: ldc, accumulate: true) { return true }
        }
        acc.linear(x, weight: denseWeight(like: x), bias: bias, gelu: gelu, into: out, ldc: ldc, accumulate: true)
        return true
    }
}
