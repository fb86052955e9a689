#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// Flux's multi-axis rotary position embedding. Angles and their cos/sin are computed in float64 and
/// rounded to float32, as both references do; pairs (x[2k], x[2k+1]) are rotated.
struct FluxRoPE {
    /// (L, D/2) cosines and sines for every token position.
    let cosines: Tensor
    let sines: Tensor

    /// `ids`: one (axis0, axis1, axis2) position per token (text tokens first).
    init(ids: [[Int]], axesDims: [Int], theta: Double, backend: any Backend = CPUBackend.shared) {
        let half = axesDims.reduce(0, +) / 2
        var c = [Float](repeating: 0, count: ids.count * half), s = c
        for (t, pos) in ids.enumerated() {
            var k = 0
            for (axis, d) in axesDims.enumerated() {
                for j in 0..<(d / 2) {
                    let omega = 1.0 / pow(theta, Double(2 * j) / Double(d))
                    let angle = Double(pos[axis]) * omega
                    c[t * half + k] = Float(cos(angle))
                    s[t * half + k] = Float(sin(angle))
                    k += 1
                }
            }
        }
        cosines = Tensor(c, shape: [ids.count, half], backend: backend)
        sines = Tensor(s, shape: [ids.count, half], backend: backend)
    }

    /// Rotates q or k of shape (B, H, L, D).
    func apply(_ x: Tensor) -> Tensor { applyRotaryEmbedding(x, cos: cosines, sin: sines) }

    /// Token positions for `txtLen` text tokens (all zero) followed by an h x w image grid (0, row, col).
    static func ids(txtLen: Int, height h: Int, width w: Int) -> [[Int]] {
        [[Int]](repeating: [0, 0, 0], count: txtLen) + (0..<(h * w)).map { [0, $0 / w, $0 % w] }
    }
}
