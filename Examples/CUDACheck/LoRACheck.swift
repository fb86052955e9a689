import Models
import Tensor

/// LoRAs on the GPU (issue 17).
///
/// `run`: the tiny pipeline with the fixture LoRAs (peft 1.0 + kohya 0.6, DiT and CLIP parts) on the
/// GPU in f32, bf16 and fp8, unfused, fused and with streamed blocks, against the CPU in f32 with the
/// same LoRAs (the tolerances of `cuda-check pipeline`: f32 >= 45 dB, bf16 >= 35 dB; fp8 reported).
/// `bench`: one FLUX.1-dev-size DiT step with random LoRAs on every block Linear (rank 16 and 64)
/// against the step without, in bf16 and fp8; and switching between two ~150 MB LoRAs.
enum LoRACheck {
    struct Missing: Error {}
    static func unwrap<T>(_ x: T?) throws -> T { guard let x else { throw Missing() }; return x }

    static func run(tinyDir: String, loraDir: String) throws -> Bool {
        var request = GenerationRequest(prompt: "a red circle on a blue background, 一只红色的圆", seed: 42, steps: 4, width: 128, height: 96)
        request.maxSequenceLength = 64
        let files = try FluxModelFiles.resolve(modelDir: tinyDir)
        let uses = [LoRAUse(try LoRA(contentsOf: loraDir + "/peft.safetensors")),
                    LoRAUse(try LoRA(contentsOf: loraDir + "/kohya.safetensors"), weight: 0.6)]
        func generate(_ b: any Backend, _ precision: WeightPrecision = .bf16, fuse: Bool = false, budget: Int? = nil,
                      loras: [LoRAUse] = uses) throws -> [UInt8] {
            let p = try FluxPipeline(files: files, keepLoaded: true, precision: precision, backend: b, vramBudget: budget)
            try p.setLoRAs(loras, fuse: fuse)
            let img = try p.generate(request)
            if fuse { print("  fused: worst layer error \(fmt(Double(p.loraFusionErrors.map(\.relativeError).max() ?? 0), 5)) over \(p.loraFusionErrors.count) layers") }
            return img.rgb
        }
        let cpu = try generate(CPUBackend.shared, .f32)
        let cpuBase = try generate(CPUBackend.shared, .f32, loras: [])
        print("tiny pipeline with LoRAs (peft 1.0 + kohya 0.6) on the CPU: \(fmt(psnr(cpu, cpuBase), 1)) dB from the picture without them")
        var ok = true
        for dtype in [DType.f32, .bf16] {
            let gpu = try CUDABackend.make(computeDType: dtype)
            let goal = dtype == .f32 ? 45.0 : 35.0
            for (label, fuse) in [("unfused", false), ("fused", true)] {
                let p = psnr(try generate(gpu, fuse: fuse), cpu)
                print("LoRA on \(gpu.deviceName) \(dtype) \(label): PSNR vs cpu \(fmt(p, 1)) dB (goal >= \(goal))")
                if !(p >= goal) { ok = false }
            }
        }
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let cpu8 = try generate(CPUBackend.shared, .fp8)
        for (label, fuse) in [("unfused", false), ("fused", true)] {
            let rgb = try generate(gpu, .fp8, fuse: fuse)
            print("LoRA on \(gpu.deviceName) fp8 \(label): PSNR vs cpu f32 \(fmt(psnr(rgb, cpu), 1)) dB, vs cpu fp8 \(fmt(psnr(rgb, cpu8), 1)) dB (cpu fp8 vs cpu f32 \(fmt(psnr(cpu8, cpu), 1)) dB)")
        }
        // Streamed blocks: a budget that leaves most blocks out (the tiny DiT's weights are ~1 MB).
        // Streamed blocks (the tiny DiT on the GPU, most blocks streamed) vs resident, with the LoRAs.
        for fp8 in [false, true] {
            let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: tinyDir + "/transformer"))
            let declared = try ConfigFile.load(FluxConfig.self, path: tinyDir + "/transformer/config.json", what: "transformer config")
            let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names, declared: declared)
            func make(_ streaming: BlockStreaming?) throws -> FluxTransformer {
                try FluxTransformer(config: config, weights: source, computeDType: .bf16, quantization: fp8 ? .fluxFP8 : nil,
                                    backend: gpu, streaming: streaming)
            }
            let roomy = try unwrap(try make(BlockStreaming(weightBudget: 1 << 40)).residency)
            // One slot as large as the largest block and nothing else: every block streams.
            let budget = roomy.otherWeightBytes + roomy.blockBytes.max()!
            let resident = try make(nil), streamed = try make(BlockStreaming(weightBudget: budget, slots: 1))
            try resident.setLoRAs(uses)
            try streamed.setLoRAs(uses)
            let img = gpu.randomUniform([1, 12, config.inChannels], dtype: .bf16, scale: 1, seed: 1)
            let txt = gpu.randomUniform([1, 8, config.jointAttentionDim], dtype: .bf16, scale: 1, seed: 2)
            let pooled = gpu.randomUniform([1, config.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 3)
            func run(_ m: FluxTransformer) -> [Float] { m(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats() }
            let e = relativeError(run(streamed), run(resident))
            print("LoRA on streamed \(fp8 ? "fp8" : "bf16") blocks (\(streamed.residencySummary)) vs resident: relative error \(e) (goal <= 0.02)")
            if !(e <= 0.02) { ok = false }
        }
        return ok
    }

    /// Random kohya LoRA over every block Linear of `c` with factors of `rank` (bf16), written to `path`.
    static func writeRandomLoRA(_ c: FluxConfig, rank: Int, seed: UInt64, to path: String, gpu: CUDABackend) throws -> Int {
        var tensors: [(String, Tensor)] = []
        var s = seed
        for (name, shape) in FluxRandomWeights.shapes(c).sorted(by: { $0.key < $1.key })
        where shape.count == 2 && (name.hasPrefix("double_blocks") || name.hasPrefix("single_blocks")) {
            let module = "lora_unet_" + name.dropLast(".weight".count).replacingOccurrences(of: ".", with: "_")
            s += 2
            tensors.append(("\(module).lora_down.weight", gpu.randomUniform([rank, shape[1]], dtype: .bf16, scale: 1 / Float(shape[1]).squareRoot(), seed: s).moved(to: CPUBackend.shared)))
            tensors.append(("\(module).lora_up.weight", gpu.randomUniform([shape[0], rank], dtype: .bf16, scale: 0.01, seed: s + 1).moved(to: CPUBackend.shared)))
            tensors.append(("\(module).alpha", Tensor([Float(rank)], shape: [])))
        }
        try SafeTensorsWriter.write(tensors, to: path)
        return tensors.reduce(0) { $0 + $1.1.byteCount }
    }

    static func bench(sizes: [Int]) throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let c = FluxConfig()
        print("device: \(gpu.deviceName); FLUX.1-dev DiT, random weights, random LoRAs on every block Linear")
        var files: [Int: String] = [:]
        for rank in [16, 64] {
            let path = "/tmp/lora-r\(rank).safetensors"
            let t0 = now()
            let bytes = try writeRandomLoRA(c, rank: rank, seed: UInt64(rank) * 1000, to: path, gpu: gpu)
            files[rank] = path
            print("rank \(rank) LoRA: \(fmt(Double(bytes) / 1e6, 1)) MB (bf16), written in \(fmt(now() - t0, 1)) s")
        }
        for fp8 in [false, true] {
            var weights = DiTBench.randomWeights(c, on: gpu).weights
            let model = try FluxTransformer(config: c, weights: DictionaryWeights(weights), computeDType: .bf16,
                                            quantization: fp8 ? .fluxFP8 : nil, backend: gpu)
            if fp8 { weights = [:] }
            gpu.emptyCache()
            let label = fp8 ? "fp8" : "bf16"
            for size in sizes.isEmpty ? [1024, 512] : sizes {
                let grid = size / 16
                let img = gpu.randomUniform([1, grid * grid, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
                let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
                let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
                func step() -> Tensor { model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]) }
                func median() -> Double {
                    for _ in 0..<3 { _ = step() }
                    gpu.synchronize()
                    return (0..<7).map { _ in gpu.time { _ = step() } }.sorted()[3]
                }
                try model.setLoRAs([])
                let base = median()
                var line = "dit \(label) \(size)x\(size): no LoRA \(fmt(base)) ms"
                for rank in [16, 64] {
                    let lora = try LoRA(contentsOf: files[rank]!)
                    try model.setLoRAs([LoRAUse(lora)])
                    let ms = median()
                    line += "; rank \(rank) \(fmt(ms)) ms (\(fmt(ms / base, 3))x)"
                    if rank == 16 && size == 1024 && !fp8 {
                        gpu.profiling = true
                        _ = step()
                        gpu.profiling = false
                        print(gpu.profileReport())
                    }
                }
                // The base alone again (clock drift within a run).
                try model.setLoRAs([])
                line += "; no LoRA again \(fmt(median())) ms"
                print(line)
            }
            if !fp8 {
                // Switching LoRAs between generations on the loaded model (what serve does per job).
                let a = files[16]!, b = "/tmp/lora-r16b.safetensors"
                _ = try writeRandomLoRA(c, rank: 16, seed: 77, to: b, gpu: gpu)
                var t0 = now()
                let la = try LoRA(contentsOf: a)
                let readA = now() - t0
                t0 = now(); try model.setLoRAs([LoRAUse(la)]); gpu.synchronize()
                let attachA = now() - t0
                t0 = now()
                let lb = try LoRA(contentsOf: b)
                let readB = now() - t0
                t0 = now(); try model.setLoRAs([LoRAUse(lb)]); gpu.synchronize()
                let attachB = now() - t0
                t0 = now(); try model.setLoRAs([LoRAUse(la, weight: 0.7)]); gpu.synchronize()
                let back = now() - t0
                print("switching rank-16 LoRAs (\(fmt(Double(la.patches.reduce(0) { $0 + ($1.down.count + $1.up.count) * 2 }) / 1e6, 1)) MB each in bf16) on the loaded bf16 DiT: "
                      + "read \(fmt(readA, 3)) s + attach \(fmt(attachA, 3)) s; another: read \(fmt(readB, 3)) s + attach \(fmt(attachB, 3)) s; "
                      + "back to the first (already read) at another weight: \(fmt(back, 3)) s")
                // Fused: merged into the bf16 weights once; the step is the base step again.
                t0 = now()
                let errors = try model.fuseLoRAs([LoRAUse(la)])
                gpu.synchronize()
                print("fused rank 16 into bf16 in \(fmt(now() - t0, 2)) s, worst layer error \(fmt(Double(errors.map(\.relativeError).max() ?? 0), 5))")
            }
        }
    }
}
