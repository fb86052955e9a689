import Models
import Quant
import Tensor

/// Issue 22's GPU numbers: a full FLUX.1-dev-size DiT (random bf16 weights made on the device) with
/// its block Linears (the layers ggml / city96's GGUF files quantise) kept as Q8_0 or Q4_K blocks in
/// device memory (`GGUFLinear`), each layer expanded when it runs: to bf16 (exact ggml values) or to
/// e4m3 (per tensor, or per output row: the loader's choice for Q8_0) for the fp8 tensor cores. Step time at each size against the bf16 and fp8 models,
/// the output's relative RMS error against the bf16 model on the same input, and device memory.
enum GGUFDiTBench {
    static func run(sizes: [Int], formats: [BlockQuantFormat] = [.q8_0, .q4_K]) throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        gpu.allowFP8TensorCores = true
        let c = FluxConfig()
        print("device: \(gpu.deviceName); FLUX.1-dev DiT, random weights; GGUF block Linears expanded per layer")
        let made = DiTBench.randomWeights(c, on: gpu)
        // FluxTransformer is a class: every variant is its own instance made from the same weights.
        func fresh() throws -> FluxTransformer {
            try FluxTransformer(config: c, weights: DictionaryWeights(made.weights), computeDType: .bf16, backend: gpu)
        }
        let bf16 = try fresh()
        let fp8 = try FluxTransformer(config: c, weights: DictionaryWeights(made.weights), computeDType: .bf16,
                                      quantization: .fluxFP8, backend: gpu)
        let policy = QuantPolicy.fluxDiT(format: .fp8e4m3fn, granularity: .channel)
        var models: [(String, FluxTransformer)] = [("bf16", bf16), ("fp8 (per-tensor e4m3, our --precision fp8)", fp8)]
        for format in formats {
            let t0 = now()
            var exact = try fresh()
            var layers: [String: GGUFLinear] = [:]
            try exact.replaceLinears { name, base in
                guard let l = base as? Linear, policy.shouldQuantize(name + ".weight", shape: l.weight.shape) else { return nil }
                let g = try GGUFLinear(quantizing: l.weight, format: format, bias: l.bias)
                layers[name] = g
                return g
            }
            let bytes = layers.values.reduce(0) { $0 + $1.blocks.count }
            print("\(format): \(layers.count) block Linears quantised in \(fmt(now() - t0, 1)) s, \(fmt(Double(bytes) / 1e9, 2)) GB of blocks")
            models.append(("\(format), expanded to bf16", exact))
            // The same blocks run as e4m3, one scale per tensor or per output row (each layer its own
            // GGUFLinear, so each keeps its own scales).
            for perRow in [false, true] {
                var viaFP8 = try fresh()
                try viaFP8.replaceLinears { name, _ in
                    guard let g = layers[name] else { return nil }
                    var e = try GGUFLinear(blocks: g.blocks, format: g.format, inFeatures: g.inFeatures, outFeatures: g.outFeatures, bias: g.bias)
                    e.computesInFP8 = true
                    e.fp8RowScales = perRow
                    return e
                }
                models.append(("\(format), expanded to \(perRow ? "per-row" : "per-tensor") e4m3 (fp8 GEMM)", viaFP8))
            }
        }
        gpu.emptyCache()
        for size in sizes.isEmpty ? [1024, 512] : sizes {
            let grid = size / 16, tokens = grid * grid
            let img = gpu.randomUniform([1, tokens, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
            let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
            let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
            var reference: [Float] = []
            var fp8Time = 0.0
            for (name, model) in models {
                func step() -> Tensor { model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]) }
                let out = step().floats()
                if reference.isEmpty { reference = out }
                var num = 0.0, den = 0.0
                for (x, y) in zip(out, reference) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
                for _ in 0..<3 { _ = step() }
                let times = (0..<5).map { _ in gpu.time { _ = step() } }.sorted()
                if name.hasPrefix("fp8") { fp8Time = times[0] }
                let ratio = fp8Time > 0 ? ", \(fmt(times[0] / fp8Time, 2))x the fp8 step" : ""
                print("dit \(size)x\(size) \(name): best \(fmt(times[0])) ms, median \(fmt(times[2])) ms\(ratio); relative RMS error vs bf16 \(fmt((num / Swift.max(den, 1e-30)).squareRoot(), 4))")
            }
        }
        print("device memory: peak in use \(fmt(Double(gpu.peakInUseBytes) / 1e9, 2)) GB (all models at once)")
    }
}
