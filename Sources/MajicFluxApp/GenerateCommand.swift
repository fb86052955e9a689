import ArgumentParser
import Foundation
import Models
import Tensor

/// `majicflux generate`: one picture (or a `--batch` of seeds) from the command line.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate one image (or a --batch of seeds) from a prompt and save it as PNG (or JPEG, WebP).")

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Pictures (img2img, inpainting, outpainting, control, Kontext)") var pictures: ConditioningOptions
    @OptionGroup(title: "Hires fix (AUTOMATIC1111's: upscale, then refine at the larger size)") var hiresFix: HiresOptions

    @Option(help: "What to paint.") var prompt: String
    @Option(name: .customLong("negative-prompt"), help: "What to avoid (used when --cfg-scale > 1).") var negativePrompt: String = ""
    // Numbers are parsed `.unconditional` so that "-1" is a value, not an option: the seed takes -1,
    // and elsewhere validation names the option and its range instead of "Missing value".
    // Text: seeds go up to 2^64-1 as in the HTTP API (a picture made there must be made again here).
    @Option(parsing: .unconditional, help: "Random seed, 0 … 18446744073709551615; -1 picks one at random (the seed used is printed and stored in the PNG).") var seed: String = "-1"

    /// The seed given, nil for -1 (random).
    var fixedSeed: UInt64? { UInt64(seed.trimmingCharacters(in: .whitespaces)) }
    @Option(parsing: .unconditional, help: "Denoising steps (\(GenerationLimits.steps.lowerBound)-\(GenerationLimits.steps.upperBound); default: the model's, 20 for FLUX.1-dev, 4 for schnell).") var steps: Int?
    @Option(parsing: .unconditional, help: "Image width, a multiple of 16 (default: the height if given, else the input picture's size floored to a multiple of 16, else the model's size, vae/config.json sample_size: 1024 for FLUX.1-dev, 128 for the default model). Input pictures are resized to it.") var width: Int?
    @Option(parsing: .unconditional, help: "Image height, a multiple of 16 (default: the width if given, else the input picture's or the model's size).") var height: Int?
    @Option(parsing: .unconditional, help: "Embedded guidance (default: the model's, 3.5 for FLUX.1-dev; refused for models without a guidance embedder, such as schnell).") var guidance: Float?
    @Option(name: .customLong("cfg-scale"), parsing: .unconditional, help: "True classifier-free guidance with the negative prompt; 1 = off.") var cfgScale: Float = 1
    @Option(help: "Sigma schedule: model (scheduler_config.json) or diffsynth (static shift 3, as the seed console); default: the model's.") var schedule: ScheduleOption?
    @Option(name: .customLong("max-sequence-length"), parsing: .unconditional, help: "T5 tokens (default: the model's tokenizer_2 model_max_length; 512 for dev, 256 for schnell).") var maxSequenceLength: Int?
    @Option(name: .customLong("cache"), parsing: .unconditional, help: ArgumentHelp("First-Block-Cache threshold: a step whose first block changed by less than this (relative) reuses the previous step's other blocks; 0 = off. \(StepCacheAdvice.help)", valueName: "THRESHOLD")) var cache: Float = 0
    @Option(help: "Output path ending in .png, or .jpg, .jpeg or .webp for a JPEG or WebP (quality 95); the parameters go into the PNG's text or the EXIF UserComment, as AUTOMATIC1111 writes them (with --batch: one file per seed, -seedS before the extension).") var output: String = "majicflux.png"
    @Option(parsing: .unconditional, help: "Pictures of the prompt made in one pass (\(GenerationLimits.batch.lowerBound)-\(GenerationLimits.batch.upperBound)), seeds SEED, SEED+1, ...; prints images per second.") var batch: Int = 1
    @Option(name: .customLong("lora"), help: ArgumentHelp(
        "A LoRA .safetensors file (kohya, diffusers/PEFT, XLabs or ComfyUI keys) applied at WEIGHT (default 1, from \(Int(LoRALimits.weights.lowerBound)) to \(Int(LoRALimits.weights.upperBound))). Repeat it for several: they add up. Only a trailing ':number' is a weight, so paths with ':' work.",
        valueName: "PATH[:WEIGHT]")) var loras: [String] = []
    @Flag(name: .customLong("lora-fuse"), help: "Merge the LoRAs into the DiT's weights when it loads (a little faster per step; prints the worst per-layer rounding error).") var loraFuse = false

    /// Checks that need no model: ranges of the values given (the rest of `GenerationLimits` is
    /// checked once the model's defaults are known) and options that cannot apply together.
    func validate() throws {
        let range = GenerationLimits.steps
        if let steps, !range.contains(steps) { throw ValidationError("--steps must be between \(range.lowerBound) and \(range.upperBound), got \(steps)") }
        let batches = GenerationLimits.batch
        if !batches.contains(batch) { throw ValidationError("--batch must be between \(batches.lowerBound) and \(batches.upperBound), got \(batch)") }
        if fixedSeed == nil && seed.trimmingCharacters(in: .whitespaces) != "-1" {
            throw ValidationError("--seed must be -1 (random) or an integer 0 … \(UInt64.max), got \(seed)")
        }
        if !negativePrompt.isEmpty && !(cfgScale > 1) {
            throw ValidationError("--negative-prompt is used only with true CFG: add --cfg-scale above 1 (e.g. --cfg-scale 4), or leave the negative prompt out")
        }
        if let fixedSeed, fixedSeed > UInt64.max - UInt64(batch - 1) {
            throw ValidationError("--seed \(seed) with --batch \(batch): the last picture's seed would pass \(UInt64.max), the largest seed; give a smaller one")
        }
        var isFolder: ObjCBool = false  // a folder is named as one by the output check
        if PictureOutput(checking: output) == nil && !(FileManager.default.fileExists(atPath: output, isDirectory: &isFolder) && isFolder.boolValue) {
            throw ValidationError("--output \(output): name the picture .png, .jpg, .jpeg or .webp (the extension chooses the format)")
        }
        for argument in loras { _ = try LoRAArgument.parse(argument) }
        if loraFuse && loras.isEmpty { throw ValidationError("--lora-fuse merges LoRAs into the model: give them with --lora PATH[:WEIGHT]") }
    }

    /// Every file this run writes (one per seed of the batch from `seed`) checked by `OutputPath.check`
    /// against every file and folder it reads.
    func checkOutputs(seed: UInt64) throws {
        let inputs = [pictures.image, pictures.mask, pictures.control, pictures.reference, model.dit, model.textEncoder,
                      model.textEncoder2, model.vae, try? model.modelDir].compactMap { $0 }
            + loras.compactMap { try? LoRAArgument.parse($0).path }
        for k in 0..<batch {
            do { try OutputPath.check(PictureOutput.path(output, seed: seed &+ UInt64(k), batch: batch), notSameAs: inputs) }
            catch let e as TensorError { throw CLIError("--output \(e)") }
        }
    }

    /// The `--lora` files read, each once (a file given twice is one LoRA used twice: the weights add up).
    func readLoRAs() throws -> [LoRAUse] {
        var read: [String: LoRA] = [:]
        return try loras.map { argument in
            let a = try LoRAArgument.parse(argument)
            let lora = try read[a.path] ?? a.read(given: argument)
            read[a.path] = lora
            return LoRAUse(lora, weight: a.weight)
        }
    }

    /// The request: what the options give, the model's preset (`FluxPipeline.preset`) for the rest.
    /// `conditioning`: the pictures read (`ConditioningOptions.conditioning()`); without `--width` and
    /// `--height` the picture takes their size (`ConditioningSize`).
    func request(preset: ModelPreset, conditioning: ImageConditioning? = nil) throws -> GenerationRequest {
        var r = GenerationRequest(prompt: prompt, preset: preset, seed: try fixedSeed ?? Seeds.resolve(-1))
        r.steps = steps ?? preset.steps
        var conditioning = conditioning
        if width == nil && height == nil, conditioning != nil, let note = ConditioningSize.aligningOutpaint(&conditioning!) {
            Console.info("note: \(note)")
        }
        let natural = conditioning.flatMap(ConditioningSize.natural)
        (r.width, r.height) = ConditioningSize.resolve(width: width, height: height, natural: natural, defaultSide: preset.imageSize)
        r.conditioning = conditioning
        r.negativePrompt = negativePrompt
        r.guidance = guidance ?? preset.guidance
        r.trueCFGScale = cfgScale
        r.maxSequenceLength = maxSequenceLength ?? preset.sequenceLength
        r.schedule = schedule?.kind ?? preset.schedule
        r.cacheThreshold = cache
        r.hires = hiresFix.hires(width: r.width, height: r.height)
        do {
            // The pictures' own problems first: the size they imply must not hide them.
            if r.conditioning != nil { try GenerationLimits().check(r.withSmallestSize, preset: preset) }
            try GenerationLimits().check(r, preset: preset)
        } catch let issue as GenerationIssue {
            throw CLIError(issue.message(calling: Self.optionName[issue.field] ?? issue.field.label))
        }
        return r
    }

    /// How each checked field is given on this command line.
    static let optionName: [GenerationIssue.Field: String] = ([
        .prompt: "--prompt", .negativePrompt: "--negative-prompt", .steps: "--steps", .width: "--width", .height: "--height",
        .guidance: "--guidance", .trueCFGScale: "--cfg-scale", .maxSequenceLength: "--max-sequence-length", .cacheThreshold: "--cache",
        .hires: "the hires fix (--hires-*)",
    ] as [GenerationIssue.Field: String]).merging(ConditioningOptions.optionNames) { a, _ in a }

    func run() throws {
        _ = ProcessClock.fallbackStart
        // A destination that cannot be written (or would overwrite an input) is reported now, not
        // after the whole generation; a random seed's batch paths are checked again once it is drawn.
        try checkOutputs(seed: fixedSeed ?? 0)
        // LoRA files are read before any weights load: a bad one fails at once.
        let uses = try readLoRAs()
        // So are the input pictures: a missing or corrupt file fails before anything loads.
        let conditioning = try pictures.conditioning()
        let backend = try model.resolveDevice()
        model.checkApplies(to: backend)
        let pipeline = try model.makePipeline(keepLoaded: false)
        let startUp = ProcessClock.secondsSinceStart()  // the backend (CUDA: context, kernels) and tokenizers included
        for warning in pipeline.warnings { Console.info("warning: \(warning)") }
        var request = try request(preset: pipeline.preset, conditioning: conditioning)
        if fixedSeed == nil && batch > 1 { try checkOutputs(seed: request.seed) }
        if !uses.isEmpty {
            try pipeline.setLoRAs(uses, fuse: loraFuse)
            request.loras = uses
            for use in uses { Console.info("LoRA \(use.lora.describe) at weight \(use.weightText)") }
        }
        // Words past T5's length have no effect: say so (diffusers warns likewise).
        for notice in pipeline.promptTokenCounter.notices(for: request, option: "--max-sequence-length") { Console.info("note: \(notice)") }
        // The picture written is the hires fix's size when there is one.
        let (width, height) = (request.hires?.width ?? request.width, request.hires?.height ?? request.height)
        let steps = request.steps
        let format = PictureOutput(path: output)
        if format == .webp, max(width, height) > WebP.maxSide {  // found now, not after the steps
            throw CLIError("--output \(output): a WebP picture is at most \(WebP.maxSide) pixels a side, and \(width)x\(height) is larger; write a .png or .jpg")
        }
        if backend is CPUBackend {  // host-memory estimate of CPU inference; a GPU holds the weights itself
            try model.checkMemory(files: pipeline.files, width: width, height: height,
                                  sequenceLength: request.maxSequenceLength, keepLoaded: false)
        }
        let record = JobConditioning(request.conditioning)
        if let record { Console.info("\(record.mode) from " + record.inputs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.width)x\($0.value.height)" }.joined(separator: ", ")) }
        let seeds = batch > 1 ? "seeds \(request.seed)...\(request.seed &+ UInt64(batch - 1)) (a batch of \(batch))" : "seed \(request.seed)"
        Console.info("\(seeds), \(request.width)x\(request.height), \(steps) step\(steps == 1 ? "" : "s") on \(backend.name) (\(pipeline.preset.name) defaults)")
        if let h = request.hires { Console.info("hires fix: \(h.summary(requestSteps: steps))") }
        let gpu = backend as? CUDABackend
        gpu?.resetPeak()
        // Under a VRAM budget a batch runs one picture after another (FluxPipeline+Batch.swift).
        let stepsRun = pipeline.stepsRun(request)
        let bar = ProgressBar(total: pipeline.vramBudget != nil ? stepsRun * batch : stepsRun)
        let started = Date()
        var images = try pipeline.generate(request, batch: batch) { bar.update($0); return true }
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        Console.info("\(batch) picture\(batch == 1 ? "" : "s") in \(String(format: "%.2f", seconds)) s: \(String(format: "%.3f", Double(batch) / seconds)) images/s"
                     + (pipeline.lastBatchRows == batch ? "" : " (one at a time: --vram-budget streams the DiT)") + ", model loading included")
        if loraFuse { Console.info(LoRAFusionReport.summary(pipeline.loraFusionErrors)) }
        if let c = pipeline.lastStepCache {
            Console.info("step cache: \(c.reused) of \(c.computed + c.reused) steps reused the cache" + (batch > 1 ? " (the steps of all \(batch) pictures)" : ""))
        }
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
        var extras: [(name: String, seconds: Double)] = []
        if images.contains(where: { $0.modelHash == nil }) {  // a first run on a big model file: hashing may still be going on
            if !pipeline.modelHash.isFinished { Console.info("hashing the DiT file for the PNG's Model hash (once per file, then cached)") }
            let waitStart = Date()
            let hash = pipeline.modelHash.wait()
            extras.append(("model hash wait", Date().timeIntervalSince(waitStart)))
            for i in images.indices { images[i].modelHash = hash }
        }
        // Each picture with its own seed in its infotext.
        let writeStart = Date()
        for image in images {
            let path = PictureOutput.path(output, seed: image.request.seed, batch: batch)
            try format.write(try image.png, to: path, text: image.parameterText(model: model.displayName, preset: pipeline.preset, record: record))
            Console.info("wrote \(path)")
        }
        // Where the time went (issue 21's cold start): process start to the last picture written.
        extras.append((format.rawValue, Date().timeIntervalSince(writeStart)))
        Console.info(pipeline.lastTimings.summary(startUp: startUp, extras: extras, wall: ProcessClock.secondsSinceStart()))
    }
}

/// An error of the command line's own, printed as its one-line message.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Sigma schedule choice on the command line.
enum ScheduleOption: String, ExpressibleByArgument, CaseIterable {
    case model, diffsynth
    var kind: ScheduleKind { self == .model ? .model : .diffSynth(shift: Self.diffSynthShift) }
    /// DiffSynth's static shift (the seed console's), for the CLI and for jobs that give none.
    static let diffSynthShift: Float = 3
}

/// Seed handling shared by the CLI and the server: -1 means a fresh random seed.
enum Seeds {
    static func resolve(_ seed: Int64) throws -> UInt64 {
        if seed == -1 { return UInt64.random(in: 0..<(1 << 32)) }
        guard seed >= 0 else { throw ValidationError("--seed must be -1 (random) or a non-negative integer, got \(seed)") }
        return UInt64(seed)
    }
}
