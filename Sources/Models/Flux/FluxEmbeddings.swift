#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// Sinusoidal embedding of timesteps/guidance as BFL and diffusers compute it in float32:
/// v * 1000, freqs_i = exp(-ln(10000) * i / half), [cos(v*freqs), sin(v*freqs)] (cos first).
func fluxTimestepEmbedding(_ values: [Float], dim: Int = 256, timeFactor: Float = 1000) -> Tensor {
    let half = dim / 2
    let c = Float(-log(10000.0))
    let freqs = (0..<half).map { expf(c * Float($0) / Float(half)) }
    var out = [Float](repeating: 0, count: values.count * dim)
    for (b, v) in values.enumerated() {
        let t = v * timeFactor
        for i in 0..<half {
            let a = t * freqs[i]
            out[b * dim + i] = cosf(a)
            out[b * dim + half + i] = sinf(a)
        }
    }
    return Tensor(out, shape: [values.count, dim])
}

/// out_layer(silu(in_layer(x))): Flux's time/guidance/pooled-text embedders.
struct MLPEmbedder: Module {
    var inLayer, outLayer: any LinearLayer
    init(in d: Int, hidden: Int) {
        inLayer = Linear(in: d, out: hidden)
        outLayer = Linear(in: hidden, out: hidden)
    }
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.linear("in_layer", &inLayer)
        try v.linear("out_layer", &outLayer)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { outLayer(silu(inLayer(x))) }
}

/// One set of adaptive-norm parameters: x -> (1 + scale) * x + shift, residual gate.
struct ModulationParams {
    let shift, scale, gate: Tensor
    /// (1 + scale) * x + shift with (B, D) parameters broadcast over tokens.
    func modulate(_ x: Tensor) -> Tensor { x * (scale.unsqueezed(1) + 1) + shift.unsqueezed(1) }
    /// gate * y, broadcast over tokens.
    func gated(_ y: Tensor) -> Tensor { y * gate.unsqueezed(1) }
    /// LayerNorm (no affine) then modulation, fused where the backend can.
    func modulate(_ x: Tensor, eps: Float) -> Tensor { modulatedLayerNorm(x, shift: shift, scale: scale, eps: eps) }
    /// x + gate * y, fused where the backend can.
    func gatedAdd(_ x: Tensor, _ y: Tensor) -> Tensor { gatedResidual(x, y, gate: gate) }
}

/// lin(silu(vec)) chunked into one (single blocks) or two (double blocks) parameter sets.
struct Modulation: Module {
    var lin: any LinearLayer
    let sets: Int
    init(hidden: Int, double: Bool) {
        sets = double ? 2 : 1
        lin = Linear(in: hidden, out: 3 * sets * hidden)
    }
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.linear("lin", &lin)
    }
    func callAsFunction(_ vec: Tensor) -> [ModulationParams] { Self.split(lin(silu(vec)), sets: sets) }

    /// Parameters for each row of `siluVec` = silu(vec) (S, D) through `layer` (a modulation Linear
    /// with `sets` parameter sets): element s is what `callAsFunction` gives for row s alone.
    static func perRow(_ siluVec: Tensor, layer: any LinearLayer, sets: Int) -> [[ModulationParams]] {
        let out = layer(siluVec)
        return (0..<out.shape[0]).map { split(out.slice(dim: 0, start: $0, end: $0 + 1), sets: sets) }
    }

    /// The `sets` (shift, scale, gate) triples of a modulation Linear's output.
    static func split(_ out: Tensor, sets: Int) -> [ModulationParams] {
        let parts = out.chunked(3 * sets, dim: -1)
        return (0..<sets).map { ModulationParams(shift: parts[3 * $0], scale: parts[3 * $0 + 1], gate: parts[3 * $0 + 2]) }
    }
}
