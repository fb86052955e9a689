import Tensor

/// Where a generation's wall time went (`FluxPipeline.lastTimings`), stage by stage, in seconds.
///
/// A load that found its model already loaded (`keepLoaded`) counts (close to) 0. On a device that
/// queues work (a GPU) each stage ends by waiting for what it queued, so a stage's time is its own
/// and not the next one's. With true CFG the encode times cover both prompts; a batch made one
/// picture after another (under a VRAM budget) adds its pictures up.
public struct GenerationTimings: Sendable, Equatable {
    public var clipLoad = 0.0
    public var clipEncode = 0.0
    public var t5Load = 0.0
    public var t5Encode = 0.0
    public var ditLoad = 0.0
    /// The denoising loop, the DiT's load left out (noise, modulation and every step).
    public var steps = 0.0
    /// How many denoising steps ran.
    public var stepCount = 0
    public var vaeLoad = 0.0
    /// Encoding the request's input pictures (img2img, inpainting, Fill, control, Kontext) and drawing
    /// the start latents; 0 for text-to-image.
    public var vaeEncode = 0.0
    /// How many pictures the VAE encoder ran on (a batch encodes each input picture once).
    public var vaeEncodes = 0
    /// Decoding the latents and turning them into 8-bit pixels.
    public var vaeDecode = 0.0
    /// The whole call, from entering `generate` to the pictures in memory: the stages plus what lies
    /// between them (request checks, schedule, releasing buffers).
    public var total = 0.0

    public init() {}

    /// The stages' sum (at most `total`).
    public var stagesSum: Double { clipLoad + clipEncode + t5Load + t5Encode + ditLoad + steps + vaeLoad + vaeEncode + vaeDecode }

    /// One line: `CLIP load 0.20 s + encode 0.01 s, T5 load ..., DiT load ..., 20 steps ..., VAE load
    /// ... + decode ...` (`VAE load ... + encode ... (N pictures) + decode ...` when input pictures
    /// were encoded), with `start-up` before and the caller's `extras` (e.g. a wait for the model
    /// hash) and `PNG` after when given, then `other` (what no part covers: `wall` less the parts) and
    /// `wall` as `in all`; without `wall`, `total` is `in all`.
    public func summary(startUp: Double? = nil, extras: [(name: String, seconds: Double)] = [], png: Double? = nil,
                        wall: Double? = nil) -> String {
        var parts: [String] = []
        if let startUp { parts.append("start-up \(Self.text(startUp))") }
        parts.append("CLIP load \(Self.text(clipLoad)) + encode \(Self.text(clipEncode))")
        parts.append("T5 load \(Self.text(t5Load)) + encode \(Self.text(t5Encode))")
        parts.append("DiT load \(Self.text(ditLoad))")
        parts.append("\(stepCount) step\(stepCount == 1 ? "" : "s") \(Self.text(steps))")
        let encode = vaeEncodes == 0 ? "" : " + encode \(Self.text(vaeEncode)) (\(vaeEncodes) picture\(vaeEncodes == 1 ? "" : "s"))"
        parts.append("VAE load \(Self.text(vaeLoad))\(encode) + decode \(Self.text(vaeDecode))")
        for extra in extras { parts.append("\(extra.name) \(Self.text(extra.seconds))") }
        if let png { parts.append("PNG \(Self.text(png))") }
        let all = wall ?? total
        let other = all - stagesSum - (startUp ?? 0) - (png ?? 0) - extras.reduce(0) { $0 + $1.seconds }
        parts.append("other \(Self.text(Swift.max(0, other)))")
        return "times: " + parts.joined(separator: ", ") + "; \(Self.text(all)) in all"
    }

    /// Seconds with two decimals ("0.41 s").
    static func text(_ seconds: Double) -> String {
        let hundredths = Int((Swift.max(0, seconds) * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) s"
    }

    /// Seconds from `start` to now.
    static func seconds(since start: ContinuousClock.Instant) -> Double { (ContinuousClock.now - start).seconds }
}

extension FluxPipeline {
    /// Runs `body` (a stage), waits for the device work it queued, and adds its wall time to
    /// `lastTimings[keyPath: stage]`.
    func timed<T>(_ stage: WritableKeyPath<GenerationTimings, Double>, _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        let result = try body()
        settleDevice()
        lastTimings[keyPath: stage] += GenerationTimings.seconds(since: start)
        return result
    }

    /// Waits until the device has run everything queued so far (a GPU queues work and returns), so
    /// the time of a stage is not counted in the next one; nothing to wait for on the CPU.
    func settleDevice() {
        guard let queue = backend as? any AsyncUploading else { return }
        let fence = queue.makeFence()
        queue.recordCompute(fence)
        queue.hostWait(fence)
    }
}
