import Tensor

/// First-Block-Cache (issue 21's step caching, after ParaAttention's FBCache and TeaCache): across
/// the denoising steps of one generation, the first double block's residual on the image tokens
/// changes little between neighbouring steps when the whole model's does. So each step runs the
/// first block; when its residual is within `threshold` (mean |r - r_prev| / mean |r_prev|, r_prev
/// from the last step that ran every block) the other blocks are skipped and the residual they
/// added at that step is added again instead.
///
/// One cache per sequence of model calls that belong together: one for the conditional and one
/// for the unconditional pass under true CFG. Not shared between generations.
public final class FirstBlockCache {
    /// The relative change of the first block's residual below which a step reuses the cache;
    /// 0 never reuses (every step computed).
    public let threshold: Float
    /// Per batch row: the first block's image-token residual at that row's last fully computed step,
    /// and what the remaining blocks added to its image tokens then (each (1, tokens, dim)).
    var firstResidual: [Tensor?] = [], remainingResidual: [Tensor?] = []
    /// Row-steps (a picture's model calls, summed over a batch's pictures) that ran every block / that
    /// reused the cache.
    public private(set) var computed = 0, reused = 0

    public init(threshold: Float) { self.threshold = threshold }

    /// Per batch row of `residual` (the first block's, (B, tokens, dim)): whether that row's step may
    /// reuse its cached remainder. Each row decides against its own history, so a picture of a batch
    /// takes the steps its single run takes (FluxPipeline+Batch.swift).
    func reusableRows(_ residual: Tensor) -> [Bool] {
        let rows = residual.shape[0]
        guard threshold > 0, firstResidual.count == rows else { return Array(repeating: false, count: rows) }
        return (0..<rows).map { i in
            let current = Self.row(residual, i)
            guard let previous = firstResidual[i], let remaining = remainingResidual[i],
                  previous.shape == current.shape, remaining.shape == previous.shape else { return false }
            let r = current.to(.f32), p = previous.to(.f32)
            let change = (r - p).abs().mean().floats()[0]
            let scale = p.abs().mean().floats()[0]
            return scale > 0 && change / scale < threshold
        }
    }

    /// The cached remainders of `rows`, stacked in that order.
    func remaining(rows: [Int]) -> Tensor {
        let parts = rows.map { remainingResidual[$0]! }
        return parts.count == 1 ? parts[0] : concat(parts, dim: 0)
    }

    func noteReused(rows: Int) { reused += rows }

    /// Stores row `i`'s residuals of a step it computed in full (`first`, `remaining`: (1, tokens, dim)).
    func store(row i: Int, of rows: Int, first: Tensor, remaining: Tensor) {
        if firstResidual.count != rows {
            firstResidual = Array(repeating: nil, count: rows)
            remainingResidual = Array(repeating: nil, count: rows)
        }
        firstResidual[i] = first
        remainingResidual[i] = remaining
        computed += 1
    }

    /// Row `i` of a (B, ...) tensor as a (1, ...) tensor of its own (a copy when B > 1, so a stored
    /// row does not keep the whole batch's tensor alive).
    static func row(_ t: Tensor, _ i: Int) -> Tensor {
        t.shape[0] == 1 ? t : t.slice(dim: 0, start: i, end: i + 1).contiguous()
    }
}

/// What the measurements say about thresholds (BENCHMARKS.md, "Step caching"), for help texts and
/// the console's step cache setting.
public enum StepCacheAdvice {
    /// The threshold recommended as a starting point: the largest measured one that keeps the default
    /// model's held-out prompt check where it is uncached (all 96 prompts; 0.07 already loses one).
    public static let recommended: Float = 0.06
    /// One sentence naming `recommended`, for help texts.
    public static let help = "Try \(recommended) (BENCHMARKS.md, \"Step caching\": speed against picture change)."
}
