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
    /// The first block's image-token residual at the last fully computed step.
    var firstResidual: Tensor?
    /// What the remaining blocks added to the image tokens at that step.
    var remainingResidual: Tensor?
    /// Model calls that ran every block / that reused the cache.
    public private(set) var computed = 0, reused = 0

    public init(threshold: Float) { self.threshold = threshold }

    /// Whether the step whose first-block residual is `residual` may reuse the cached remainder.
    func canReuse(_ residual: Tensor) -> Bool {
        guard threshold > 0, let previous = firstResidual, let remaining = remainingResidual,
              previous.shape == residual.shape, remaining.shape == residual.shape else { return false }
        // A batch (FluxPipeline+Batch.swift) reuses only when every row is under the threshold.
        let rows = residual.shape[0]
        for i in 0..<rows {
            func row(_ t: Tensor) -> Tensor { (rows == 1 ? t : t.slice(dim: 0, start: i, end: i + 1).contiguous()).to(.f32) }
            let r = row(residual), p = row(previous)
            let change = (r - p).abs().mean().floats()[0]
            let scale = p.abs().mean().floats()[0]
            guard scale > 0 && change / scale < threshold else { return false }
        }
        return true
    }

    func noteReused() { reused += 1 }

    func store(first: Tensor, remaining: Tensor) {
        firstResidual = first
        remainingResidual = remaining
        computed += 1
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
