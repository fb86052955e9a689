/// What `FluxPipeline.generationEvents(_:)` yields: progress as the run goes, then the picture.
public enum GenerationEvent: Sendable {
    /// Before the text encoders, before the first denoising step and after every step, before the
    /// VAE decodes (the same moments as `generate(_:progress:)`'s callback).
    case progress(GenerationProgress)
    /// The finished picture; the last event.
    case image(GeneratedImage)
}

/// Swift concurrency entry points. The blocking work runs on a thread of its own, never on the
/// cooperative pool, and one run at a time per pipeline (`generationGate`): a second call waits for
/// the first. Cancelling the calling task (or dropping the event stream) stops the run at the next
/// step boundary and throws `CancellationError`; a progress callback returning false still throws
/// `ModelError.cancelled`, as the blocking API does.
///
/// The methods are `nonisolated(nonsending)`: they start on the caller's actor, so a pipeline held
/// by an actor (or `@MainActor` code) is used without being sent anywhere.
extension FluxPipeline {
    /// Makes the picture `request` describes, off the cooperative pool. Same picture as the blocking
    /// `generate(_:progress:)`, bit for bit.
    ///
    /// - Parameter progress: called on the generation thread at the moments `GenerationEvent.progress`
    ///   lists; returning false cancels (throws `ModelError.cancelled`).
    /// - Throws: `CancellationError` when the task is cancelled (before the run starts or between
    ///   steps); `ModelError` for a bad request or model; a device failure with its message.
    nonisolated(nonsending)
    public func generate(_ request: GenerationRequest,
                         progress: (@Sendable (GenerationProgress) -> Bool)? = nil) async throws -> GeneratedImage {
        // A batch of one is the single run (`generate(_:progress:)` runs the same rows).
        try await generate(batch: [request], progress: progress)[0]
    }

    /// The run of `request` as a stream: `.progress` events, then `.image`, then the end. The run
    /// starts at once on its own thread. A consumer that stops iterating (or whose task is
    /// cancelled) stops the run at the next step boundary. A slow consumer may miss progress
    /// events (the 16 newest are kept) but never the picture. Errors end the stream; a stream
    /// ended by its consumer throws nothing more.
    public func generationEvents(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let cancelled = CancelFlag()
        continuation.onTermination = { reason in
            if case .cancelled = reason { cancelled.set() }
        }
        let handle = PipelineHandle(pipeline: self)
        FluxPipeline.startGenerationThread {
            do {
                let image = try handle.pipeline.generate(request) { p in
                    continuation.yield(.progress(p))
                    return !cancelled.isSet
                }
                continuation.yield(.image(image))
                continuation.finish()
            } catch ModelError.cancelled where cancelled.isSet {
                continuation.finish(throwing: CancellationError())
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return stream
    }

    /// Loads every component now (`loadAll()`), off the cooperative pool; waits for a running
    /// generation first. Not cancellable: a load runs to its end.
    nonisolated(nonsending)
    public func loadAll() async throws {
        let handle = PipelineHandle(pipeline: self)
        try await FluxPipeline.onGenerationThread {
            try handle.pipeline.loadAll()
        }
    }
}
