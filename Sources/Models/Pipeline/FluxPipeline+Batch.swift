import Tensor

/// Batches (issue 21): several pictures of one request, differing only in their seeds, in one pass.
///
/// - **Exactness.** The text is encoded once and its embeddings repeated for every row. Each row
///   draws its noise (and the VAE samples of input pictures) from its own `TorchGenerator` seeded
///   with its seed, in a single run's order, so every picture equals the single run of its seed up to
///   float rounding (a GEMM over more rows may sum in another order).
/// - **Work.** Every DiT call runs all rows at once (batch dimension B); the VAE decodes picture by
///   picture, so decoding needs the memory of one picture.
/// - **Image conditioning** (img2img, inpainting, Fill, control, Kontext): every row takes the same
///   input pictures; the VAE encodes each once for the batch, and each row draws its samples from
///   the shared latent distribution with its own generator.
/// - **Step cache** (`cacheThreshold`): each row decides against its own history
///   (`FirstBlockCache.reusableRows`), so each picture reuses the steps its single run reuses; the
///   rows that compute a step run the remaining blocks as a smaller batch.
/// - **Low-VRAM mode** (`vramBudget`): a streaming DiT runs one picture at a time, so the pictures
///   are made one after another (the same pictures; `lastBatchRows` is 1).
extension FluxPipeline {
    /// The requests of a batch of `count` pictures of `request`: seeds `seed`, `seed+1`, ... (wrapping).
    public static func batchRequests(_ request: GenerationRequest, count: Int) -> [GenerationRequest] {
        (0..<max(count, 0)).map { i in
            var r = request
            r.seed = request.seed &+ UInt64(i)
            return r
        }
    }

    /// Makes `count` pictures of `request` with seeds `seed`, `seed+1`, ... in one pass
    /// (`GenerationLimits.batch`); the pictures in seed order.
    public func generate(_ request: GenerationRequest, batch count: Int,
                         progress: ((GenerationProgress) -> Bool)? = nil) throws -> [GeneratedImage] {
        try Self.checkBatchSize(count)
        return try generate(batch: Self.batchRequests(request, count: count), progress: progress)
    }

    /// Makes one picture per request, in one pass, when the requests differ only in their seeds
    /// (else throws `ModelError.invalidParameter`); at most `GenerationLimits.batch.upperBound`.
    ///
    /// `progress` is called as for one picture (`generate(_:progress:)`): the steps are the batch's
    /// steps, and the preview latent (`GenerationProgress.denoised`) is the first picture's. Returning
    /// false cancels the whole batch. Under a VRAM budget the pictures are made one after another and
    /// the steps count on across them (`totalSteps` = pictures x steps).
    public func generate(batch requests: [GenerationRequest],
                         progress: ((GenerationProgress) -> Bool)? = nil) throws -> [GeneratedImage] {
        try Self.checkBatch(requests)
        generationGate.lock(); defer { generationGate.unlock() }
        let start = ContinuousClock.now
        lastTimings = GenerationTimings()
        defer { lastTimings.total = GenerationTimings.seconds(since: start) }
        guard vramBudget != nil, requests.count > 1 else { return try generateRows(requests, progress: progress) }
        // A streaming DiT takes one row per call (its modulation is prepared per pooled row).
        var images: [GeneratedImage] = []
        var before = 0.0, last = 0.0  // seconds of the earlier pictures: `elapsed` counts from the batch's start
        for (k, r) in requests.enumerated() {
            images += try generateRows([r], progress: progress.map { report in
                { (p: GenerationProgress) -> Bool in
                    var p = p
                    p.step += k * p.totalSteps
                    p.totalSteps *= requests.count
                    last = p.elapsed
                    p.elapsed += before
                    return report(p)
                }
            })
            before += last
        }
        lastBatchRows = 1
        return images
    }

    /// Throws unless `count` is a batch size this library runs (`GenerationLimits.batch`).
    static func checkBatchSize(_ count: Int) throws {
        let range = GenerationLimits.batch
        guard range.contains(count) else {
            throw ModelError.invalidParameter("the batch size must be between \(range.lowerBound) and \(range.upperBound), got \(count)")
        }
    }

    /// Throws unless `requests` can run as one batch: 1...8 of them, equal but for the seed.
    static func checkBatch(_ requests: [GenerationRequest]) throws {
        try checkBatchSize(requests.count)
        let first = requests[0]
        for (i, r) in requests.enumerated().dropFirst() {
            guard r.differsOnlyInSeed(from: first) else {
                throw ModelError.invalidParameter("a batch's requests must differ only in their seed: request \(i) differs from request 0 in more")
            }
        }
    }

    /// Prompt embeddings repeated for `rows` batch rows (the same tensors for one row).
    static func repeatedRows(_ text: (sequence: Tensor, pooled: Tensor), _ rows: Int) -> (sequence: Tensor, pooled: Tensor) {
        guard rows > 1 else { return text }
        return (concat(Array(repeating: text.sequence, count: rows), dim: 0), concat(Array(repeating: text.pooled, count: rows), dim: 0))
    }

    /// The first batch row of `x` (itself for one row).
    static func firstRow(_ x: Tensor) -> Tensor {
        x.shape[0] == 1 ? x : x.slice(dim: 0, start: 0, end: 1).contiguous()
    }
}

extension DenoisingStart {
    /// The rows' starts as one batch: latents, joined channels, reference tokens and the inpainting
    /// blend stacked on dim 0 (one row: itself). Every row starts at the same step.
    static func stacked(_ rows: [DenoisingStart]) -> DenoisingStart {
        guard rows.count > 1 else { return rows[0] }
        func stack(_ xs: [Tensor]) -> Tensor { concat(xs, dim: 0) }
        var start = DenoisingStart(latents: stack(rows.map(\.latents)), firstStep: rows[0].firstStep)
        if rows[0].channelTokens != nil { start.channelTokens = stack(rows.compactMap(\.channelTokens)) }
        if let r = rows[0].reference { start.reference = (stack(rows.compactMap { $0.reference?.tokens }), r.height, r.width) }
        if rows[0].blend != nil {
            let blends = rows.compactMap(\.blend)
            start.blend = (stack(blends.map(\.imageLatents)), stack(blends.map(\.noise)), stack(blends.map(\.mask)))
        }
        return start
    }
}

extension FluxPipeline {
    /// `generate(batch:progress:)` off the cooperative pool, as `generate(_:progress:) async` runs one
    /// picture: cancelling the task stops the batch at the next step (`CancellationError`).
    nonisolated(nonsending)
    public func generate(batch requests: [GenerationRequest],
                         progress: (@Sendable (GenerationProgress) -> Bool)? = nil) async throws -> [GeneratedImage] {
        try Task.checkCancellation()
        let cancelled = CancelFlag()
        let handle = PipelineHandle(pipeline: self)
        return try await withTaskCancellationHandler {
            try await FluxPipeline.onGenerationThread {
                do {
                    return try handle.pipeline.generate(batch: requests) { p in
                        !cancelled.isSet && (progress?(p) ?? true) && !cancelled.isSet
                    }
                } catch ModelError.cancelled where cancelled.isSet {
                    throw CancellationError()
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

extension GenerationRequest {
    /// Whether this request and `other` may run as one batch: equal but for the seed.
    public func differsOnlyInSeed(from other: GenerationRequest) -> Bool {
        var same = self
        same.seed = other.seed
        return same == other
    }
}
