import ArgumentParser
import Foundation
import Models
import Tensor

/// `majicflux generate`: one picture from the command line.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate one image from a prompt and save it as PNG.")

    @OptionGroup var model: ModelOptions

    @Option(help: "What to paint.") var prompt: String
    @Option(name: .customLong("negative-prompt"), help: "What to avoid (used when --cfg-scale > 1).") var negativePrompt: String = ""
    @Option(help: "Random seed; -1 picks one at random (the seed used is printed and stored in the PNG).") var seed: Int64 = -1
    @Option(help: "Denoising steps (1-100).") var steps: Int = 20
    @Option(help: "Image width, a multiple of 16 (default: the model's size, vae/config.json sample_size: 1024 for FLUX.1-dev, 128 for the default model).") var width: Int?
    @Option(help: "Image height, a multiple of 16 (default: as the width).") var height: Int?
    @Option(help: "Embedded guidance (FLUX.1-dev: 3.5).") var guidance: Float = 3.5
    @Option(name: .customLong("cfg-scale"), help: "True classifier-free guidance with the negative prompt; 1 = off.") var cfgScale: Float = 1
    @Option(help: "Sigma schedule: model (scheduler_config.json) or diffsynth (static shift 3, as the seed console).") var schedule: ScheduleOption = .model
    @Option(name: .customLong("max-sequence-length"), help: "T5 tokens (default: the model's tokenizer_2 model_max_length; 512 for dev, 256 for schnell).") var maxSequenceLength: Int?
    @Option(help: "Output PNG path.") var output: String = "majicflux.png"

    func run() throws {
        let backend = try model.resolveDevice()
        let pipeline = try model.makePipeline(keepLoaded: false)
        let width = self.width ?? pipeline.preferredImageSize
        let height = self.height ?? pipeline.preferredImageSize
        var request = GenerationRequest(prompt: prompt, seed: try Seeds.resolve(seed), steps: steps, width: width, height: height)
        request.negativePrompt = negativePrompt
        request.guidance = guidance
        request.trueCFGScale = cfgScale
        request.maxSequenceLength = maxSequenceLength ?? pipeline.preferredSequenceLength
        request.schedule = schedule.kind
        if !(1...100).contains(steps) { throw ValidationError("--steps must be between 1 and 100, got \(steps)") }
        try request.validate()
        if backend is CPUBackend {  // host-memory estimate of CPU inference; a GPU holds the weights itself
            try model.checkMemory(files: pipeline.files, width: width, height: height,
                                  sequenceLength: request.maxSequenceLength, keepLoaded: false)
        }
        Console.info("seed \(request.seed), \(width)x\(height), \(steps) steps on \(backend.name)")
        let gpu = backend as? CUDABackend
        gpu?.resetPeak()
        let bar = ProgressBar(total: steps)
        var image = try pipeline.generate(request) { bar.update($0); return true }
        bar.finish()
        if let gpu {
            for (name, r) in [("T5", pipeline.lastT5Residency), ("DiT", pipeline.lastDiTResidency)] {
                if let r { Console.info("\(name): \(r.summary)") }
            }
            let mib = { (b: Int) in "\(b >> 20) MiB" }
            Console.info("GPU memory: peak \(mib(gpu.peakDeviceUsedBytes)) (\(MemoryEstimate.gib(Int64(gpu.peakDeviceUsedBytes)))) in use by the driver's count (context included), \(mib(gpu.peakReservedBytes)) held by the allocator")
            if !pipeline.stagePeaks.isEmpty {
                Console.info("  peak per stage: " + pipeline.stagePeaks.map { "\($0.stage) \(mib($0.bytes))" }.joined(separator: ", "))
            }
        }
        if image.modelHash == nil {  // a first run on a big model file: hashing may still be going on
            if !pipeline.modelHash.isFinished { Console.info("hashing the DiT file for the PNG's Model hash (once per file, then cached)") }
            image.modelHash = pipeline.modelHash.wait()
        }
        try PNG.write(try image.png, to: output, text: image.parameterText(model: model.displayName))
        Console.info("wrote \(output)")
    }
}

/// Sigma schedule choice on the command line.
enum ScheduleOption: String, ExpressibleByArgument, CaseIterable {
    case model, diffsynth
    var kind: ScheduleKind { self == .model ? .model : .diffSynth(shift: 3) }
}

/// Seed handling shared by the CLI and the server: -1 means a fresh random seed.
enum Seeds {
    static func resolve(_ seed: Int64) throws -> UInt64 {
        if seed == -1 { return UInt64.random(in: 0..<(1 << 32)) }
        guard seed >= 0 else { throw ValidationError("--seed must be -1 (random) or a non-negative integer, got \(seed)") }
        return UInt64(seed)
    }
}
