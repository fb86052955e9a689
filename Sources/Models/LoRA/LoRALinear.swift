import Tensor

/// A Linear with low-rank updates beside it: y = base(x) + (x downᵀ) upᵀ. `down` (R, in) stacks the
/// updates of every attached LoRA along the rank; `up` (out, R) holds each one's `weight * scale *
/// up` in its own columns and output rows (zero elsewhere). The base is untouched, in any form
/// (dense, CPU-quantized, GPU fp8), so LoRAs change without reloading the model.
public struct LoRALinear: LinearLayer {
    /// The layer as loaded.
    public var base: any LinearLayer
    /// (R, in), in the activations' dtype on the base's backend.
    public var down: Tensor
    /// (out, R), likewise.
    public var up: Tensor

    public init(base: any LinearLayer, down: Tensor, up: Tensor) {
        precondition(down.rank == 2 && up.rank == 2 && down.shape[1] == base.inFeatures && up.shape == [base.outFeatures, down.shape[0]],
                     "LoRA factors \(down.shape), \(up.shape) do not fit a \(base.outFeatures)x\(base.inFeatures) layer")
        self.base = base
        self.down = down
        self.up = up
    }

    /// The base's parameters under their own names, then the factors (so streaming and device moves
    /// carry them along).
    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try base.visit(&v)
        try v.parameter("lora_down.weight", &down)
        try v.parameter("lora_up.weight", &up)
    }

    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }

    /// (x downᵀ) upᵀ.
    public func delta(_ x: Tensor) -> Tensor { linear(linear(x, weight: down, bias: nil), weight: up, bias: nil) }

    public func callAsFunction(_ x: Tensor) -> Tensor { onAccumulatingBackend(x, gelu: false) ?? base(x) + delta(x) }

    public func geluTanh(_ x: Tensor) -> Tensor { onAccumulatingBackend(x, gelu: true) ?? gelu(base(x) + delta(x), approximate: .tanh) }

    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor {
        onAccumulatingBackend(x, gelu: true, prefix: prefix) ?? concat([prefix, geluTanh(x)], dim: -1)
    }

    /// On a GPU (`LinearAccumulating`): the update's second GEMM writes the output (after `prefix`'s
    /// columns, when given) and the base's GEMM adds to it with its own bias and GELU epilogue, so the
    /// LoRA costs its two thin GEMMs and nothing else. nil where the backend or base cannot.
    func onAccumulatingBackend(_ x: Tensor, gelu: Bool, prefix: Tensor? = nil) -> Tensor? {
        guard let acc = x.backend as? any LinearAccumulating else { return nil }
        let p = prefix.map { $0.shape[$0.rank - 1] } ?? 0, n = outFeatures
        let out = acc.uninitialized(Array(x.shape.dropLast()) + [p + n])
        let view = p == 0 ? out : out.slice(dim: out.rank - 1, start: p)
        acc.linear(linear(x, weight: down, bias: nil), weight: up, bias: nil, gelu: false, into: view, ldc: p + n, accumulate: false)
        guard base.accumulate(x, into: view, ldc: p + n, gelu: gelu) else { return nil }
        if let prefix { acc.copy(prefix.to(out.dtype), into: out.slice(dim: out.rank - 1, start: 0, end: p)) }
        return out
    }

    public func rows(_ start: Int, _ end: Int) -> (any LinearLayer)? {
        guard let b = base.rows(start, end) else { return nil }
        return LoRALinear(base: b, down: down, up: up.slice(dim: 0, start: start, end: end))
    }
}
