#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// Flux's multi-axis rotary position embedding. Angles and their cos/sin are computed in float64 and
/// rounded to float32, as both references do; pairs (x[2k], x[2k+1]) are rotated.
struct FluxRoPE: Sendable {
    /// (L, D/2) cosines and sines for every token position.
    let cosines: Tensor
    let sines: Tensor

    /// `ids`: one (axis0, axis1, axis2) position per token (text tokens first).
    init(ids: [[Int]], axesDims: [Int], theta: Double, backend: any Backend = CPUBackend.shared) {
        let half = axesDims.reduce(0, +) / 2
        // Column k of the table belongs to one axis and one frequency; positions repeat across tokens
        // (a 64x64 grid has 64 distinct rows), so cos/sin are made once per (column, position): the
        // same float64 expressions as per token, hence the same floats, at a fraction of the trig.
        var columns: [(axis: Int, omega: Double)] = []
        for (axis, d) in axesDims.enumerated() {
            for j in 0..<(d / 2) { columns.append((axis, 1.0 / pow(theta, Double(2 * j) / Double(d)))) }
        }
        let positions = axesDims.indices.map { a in ids.lazy.map { $0[a] }.max() ?? 0 }
        let lowest = ids.lazy.flatMap { $0 }.min() ?? 0
        var c = [Float](repeating: 0, count: ids.count * half), s = c
        if lowest >= 0 {
            var cosTable: [[Float]] = [], sinTable: [[Float]] = []
            for (axis, omega) in columns {
                let angles = (0...positions[axis]).map { Double($0) * omega }
                cosTable.append(angles.map { Float(cos($0)) })
                sinTable.append(angles.map { Float(sin($0)) })
            }
            for (t, pos) in ids.enumerated() {
                for k in 0..<half {
                    let p = pos[columns[k].axis]
                    c[t * half + k] = cosTable[k][p]
                    s[t * half + k] = sinTable[k][p]
                }
            }
        } else {
            for (t, pos) in ids.enumerated() {
                for (k, col) in columns.enumerated() {
                    let angle = Double(pos[col.axis]) * col.omega
                    c[t * half + k] = Float(cos(angle))
                    s[t * half + k] = Float(sin(angle))
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

    /// The token layout a table is made for: text length, image grid and FLUX.1 Kontext's reference
    /// grid (0 x 0 without one).
    struct Layout: Hashable, Sendable {
        var textTokens, height, width: Int
        var referenceHeight = 0, referenceWidth = 0

        /// Every token's (axis0, axis1, axis2) position: text, image grid (0, row, col), reference (1, row, col).
        var ids: [[Int]] {
            FluxRoPE.ids(txtLen: textTokens, height: height, width: width)
                + (0..<(referenceHeight * referenceWidth)).map { [1, $0 / referenceWidth, $0 % referenceWidth] }
        }
    }
}

/// The RoPE tables a model has made, by token layout. Every step of a generation has the same
/// positions; making a table at 1024x1024 costs about 20 ms of host trig and an upload that waits
/// for the device, so each layout is made once (the last few are kept: a few MB each).
final class FluxRoPECache: Sendable {
    private let tables = Locked<[(layout: FluxRoPE.Layout, rope: FluxRoPE)]>([])
    static let kept = 4

    /// The table for `layout`, made by `make` the first time (most recent first; the oldest beyond
    /// `kept` are dropped).
    func table(_ layout: FluxRoPE.Layout, make: () -> FluxRoPE) -> FluxRoPE {
        if let hit = tables.withLock({ list -> FluxRoPE? in
            guard let i = list.firstIndex(where: { $0.layout == layout }) else { return nil }
            let entry = list.remove(at: i)
            list.insert(entry, at: 0)
            return entry.rope
        }) { return hit }
        let rope = make()
        tables.withLock { list in
            list.removeAll { $0.layout == layout }
            list.insert((layout, rope), at: 0)
            if list.count > Self.kept { list.removeLast(list.count - Self.kept) }
        }
        return rope
    }

    /// How many tables are kept.
    var count: Int { tables.withLock { $0.count } }
}
