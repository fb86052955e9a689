import Models
import Tensor

/// One denoising step of a full FLUX.1-dev-size DiT (19 double + 38 single blocks, hidden 3072,
/// random bf16 weights made on the device) at 1024x1024 (4096 image tokens) and 512x512 (1024), with
/// 512 text tokens; GPU time per step with events (best and median of 5 after 5 warm-up steps), and
/// peak device memory. Also the flash-attention kernel alone at the joint sequence length.
enum DiTBench {
    static func run(sizes: [Int], fp8: Bool = false) throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let c = FluxConfig()
        print("device: \(gpu.deviceName); FLUX.1-dev DiT, \(fp8 ? "block Linears fp8 e4m3 (per-tensor scales, quantised on the GPU)" : "bf16"), random weights; attention \(gpu.fp8Attention ? "fp8 (MAJICFLUX_CUDA_ATTENTION=fp8)" : "bf16")")
        let t0 = now()
        let made = randomWeights(c, on: gpu)
        var weights = made.weights
        let params = made.parameters
        let model = try FluxTransformer(config: c, weights: DictionaryWeights(weights), computeDType: .bf16,
                                        quantization: fp8 ? .fluxFP8 : nil, backend: gpu)
        let fp8Attention = gpu.fp8Attention
        if fp8 || fp8Attention {
            // The all-bf16 model's output (bf16 weights, bf16 attention) on the same input, for the
            // relative RMS error of the fp8 step and of fp8 attention alone.
            let bf = try FluxTransformer(config: c, weights: DictionaryWeights(weights), computeDType: .bf16, backend: gpu)
            let grid = 64
            let img = gpu.randomUniform([1, grid * grid, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
            let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
            let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
            func run(_ m: FluxTransformer, fp8Attention on: Bool) -> [Float] {
                gpu.fp8Attention = on
                defer { gpu.fp8Attention = fp8Attention }
                return m(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]).floats()
            }
            func rms(_ a: [Float], _ b: [Float]) -> Double {
                var num = 0.0, den = 0.0
                for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
                return (num / den).squareRoot()
            }
            let reference = run(bf, fp8Attention: false)
            if fp8 {
                print("fp8 vs bf16 DiT output at 1024x1024 (same random weights and input): relative RMS error \(fmt(rms(run(model, fp8Attention: false), reference), 4)); path: \(gpu.lastFP8Path)")
            }
            if fp8Attention {
                let attn = run(bf, fp8Attention: true)
                print("fp8 attention: bf16 weights + fp8 attention vs all bf16, DiT output at 1024x1024: relative RMS error \(fmt(rms(attn, reference), 4)) (fp8 kernel ran: \(gpu.lastAttentionFP8))")
                if fp8 { print("fp8 weights + fp8 attention vs all bf16: relative RMS error \(fmt(rms(run(model, fp8Attention: true), reference), 4))") }
            }
        }
        weights = [:]
        gpu.emptyCache()
        gpu.synchronize()
        print("weights: \(params) parameters (\(fmt(Double(params) * 2 / 1e9, 2)) GB), made in \(fmt(now() - t0, 1)) s")
        for size in sizes.isEmpty ? [1024, 512] : sizes {
            let grid = size / 16, tokens = grid * grid
            let img = gpu.randomUniform([1, tokens, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
            let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
            let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
            func step() -> Tensor { model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]) }
            gpu.resetPeak()
            for _ in 0..<5 { _ = step() }
            gpu.synchronize()
            var times: [Double] = [], walls: [Double] = [], hosts: [Double] = []
            var out: Tensor? = nil
            for _ in 0..<5 {
                let w0 = now()
                var h = 0.0
                // Host time to queue the step (returns before the GPU finishes): when it nears the
                // GPU time, the host is what limits the step.
                let ms = gpu.time { out = step(); h = (now() - w0) * 1000 }
                walls.append((now() - w0) * 1000)
                hosts.append(h)
                times.append(ms)
            }
            let sorted = times.sorted()
            let v = out!.floats()
            let finite = v.allSatisfy { $0.isFinite }
            // Ten steps queued back to back, as a generation runs them: GPU time per step.
            _ = step(); gpu.synchronize()
            let run10 = gpu.time { for _ in 0..<10 { _ = step() } } / 10
            print("dit \(size)x\(size) (\(tokens)+512 tokens): best \(fmt(sorted[0])) ms, median \(fmt(sorted[2])) ms per step (wall \(fmt(walls.min()!)) ms, "
                  + "host queueing \(fmt(hosts.sorted()[2])) ms median; 10 steps back to back \(fmt(run10)) ms a step); "
                  + "peak in use \(fmt(Double(gpu.peakInUseBytes) / 1e9, 2)) GB, reserved \(fmt(Double(gpu.peakReservedBytes) / 1e9, 2)) GB; output finite: \(finite)")
            // CUDA graphs: the steps above replayed the blocks as one graph (captured at the second
            // step). The same step op by op, and whether the replay computes exactly what the ops do.
            let use = model.blockGraphUse
            print("  graphs: \(use)")
            let graphed = step().floats()
            gpu.cudaGraphs = false
            let opByOp = step().floats()
            let eager = (0..<5).map { _ in gpu.time { _ = step() } }.sorted()
            _ = step(); gpu.synchronize()
            let eager10 = gpu.time { for _ in 0..<10 { _ = step() } } / 10
            gpu.cudaGraphs = true
            let maxDiff = zip(graphed, opByOp).map { abs($0 - $1) }.max() ?? 0
            print("  the same step without graphs: best \(fmt(eager[0])) ms, median \(fmt(eager[2])) ms, 10 back to back \(fmt(eager10)) ms a step; "
                  + "graph output identical to op by op: \(graphed == opByOp) (max |diff| \(maxDiff))")
            if gpu.hopperFlashAvailable {
                // The same step with the other flash kernels.
                let chosen = gpu.flashKernel
                for other in CUDABackend.FlashKernel.allCases where other != chosen {
                    gpu.flashKernel = other
                    _ = step()
                    let alt = (0..<5).map { _ in gpu.time { _ = step() } }.sorted()
                    print("  same step with the \(other) flash kernel instead of \(chosen): best \(fmt(alt[0])) ms, median \(fmt(alt[2])) ms")
                }
                gpu.flashKernel = chosen
                // The chosen kernel again after the others: step times on this card drift by several
                // percent within a run (clocks), so the first pass alone can mislead.
                let again = (0..<5).map { _ in gpu.time { _ = step() } }.sorted()
                print("  \(chosen) again: best \(fmt(again[0])) ms, median \(fmt(again[2])) ms (best of both passes \(fmt(Swift.min(again[0], sorted[0]))) ms)")
            }
            // Step caching: a step that reuses the First-Block-Cache runs the first block and the
            // output layer only (the same input again: its residual has not changed at all).
            let cache = FirstBlockCache(threshold: 1)
            func cachedStep() -> Tensor { model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5], cache: cache) }
            _ = cachedStep()
            let reused = (0..<5).map { _ in gpu.time { _ = cachedStep() } }.sorted()
            print("  a step reusing the first-block cache: best \(fmt(reused[0])) ms, median \(fmt(reused[2])) ms (\(cache.computed) computed, \(cache.reused) reused)")
            // Where the time goes: every kernel and GEMM timed separately for one step.
            gpu.profiling = true
            _ = step()
            gpu.profiling = false
            print(gpu.profileReport())
            // Attention alone at this size.
            let l = tokens + 512
            let q = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 7)
            let k = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 8)
            let vv = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 9)
            // One attention call timed (best of 5), bf16 or fp8 attention, printed with its rate.
            func timeAttention(fp8: Bool, _ what: String) {
                let was = gpu.fp8Attention
                gpu.fp8Attention = fp8
                defer { gpu.fp8Attention = was }
                _ = scaledDotProductAttention(q, k, vv)
                let ams = (0..<5).map { _ in gpu.time { _ = scaledDotProductAttention(q, k, vv) } }.min()!
                let flops = 4.0 * Double(l) * Double(l) * 128 * 24
                print("  \(fp8 ? "fp8" : "flash") attention (1, 24, \(l), 128), \(what): \(fmt(ams, 3)) ms, \(fmt(flops / ams / 1e9, 1)) TFLOP/s; x57 layers = \(fmt(ams * 57, 1)) ms")
            }
            let chosen = gpu.flashKernel
            for kernel in CUDABackend.FlashKernel.allCases where kernel == .mma || gpu.hopperFlashAvailable {
                gpu.flashKernel = kernel
                timeAttention(fp8: false, "\(kernel) kernel")
            }
            gpu.flashKernel = chosen
            if gpu.fp8AttentionAvailable { timeAttention(fp8: true, "quantisation included") }
        }
        let mem = gpu.memoryInfo()
        print("device memory: \(fmt(Double(mem.total - mem.free) / 1e9, 2)) GB used of \(fmt(Double(mem.total) / 1e9, 1)) GB")
    }
}

extension DiTBench {
    /// FLUX.1-dev-size random bf16 weights made on the device (BFL names) and their parameter count.
    /// A full-size FLUX.1-dev DiT of random weights with its block Linears in fp8 (the bf16 copies freed).
    static func randomFP8Model(_ c: FluxConfig, on gpu: CUDABackend) throws -> FluxTransformer {
        var made = randomWeights(c, on: gpu)
        let model = try FluxTransformer(config: c, weights: DictionaryWeights(made.weights), computeDType: .bf16,
                                        quantization: .fluxFP8, backend: gpu)
        made.weights = [:]
        gpu.emptyCache()
        return model
    }

    /// One step of `model` at `size` x `size` on the benchmarks' fixed random inputs (512 text tokens).
    static func stepper(_ model: FluxTransformer, size: Int, on gpu: CUDABackend) -> () -> Tensor {
        let c = model.config, grid = size / 16
        let img = gpu.randomUniform([1, grid * grid, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
        let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
        let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
        return { model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]) }
    }

    /// An A/B of `step` with a setting off and on (`set`), alternating over four rounds: GPU times of
    /// three steps a round each, and each side's output. A switch that changes the graph key (the
    /// backend's settings do) costs one eager step and one capture, run before the timed replays.
    static func alternate(_ gpu: CUDABackend, _ step: () -> Tensor, set: (Bool) -> Void) -> (times: [Bool: [Double]], outputs: [Bool: [Float]]) {
        var times: [Bool: [Double]] = [false: [], true: []]
        var outs: [Bool: [Float]] = [:]
        for round in 0..<4 {
            for on in [false, true] {
                set(on)
                _ = step()
                if round == 0 { outs[on] = step().floats() } else { _ = step() }
                times[on]! += (0..<3).map { _ in gpu.time { _ = step() } }
            }
        }
        return (times, outs)
    }

    static func randomWeights(_ c: FluxConfig, on gpu: CUDABackend) -> (weights: [String: Tensor], parameters: Int) {
        var weights: [String: Tensor] = [:]
        var seed: UInt64 = 1
        var params = 0
        for (name, shape) in FluxRandomWeights.shapes(c).sorted(by: { $0.key < $1.key }) {
            seed += 1
            let scale: Float = shape.count == 2 ? 1 / Float(shape[1]).squareRoot() : (name.hasSuffix(".scale") ? 1 : 0.02)
            weights[name] = gpu.randomUniform(shape, dtype: .bf16, scale: scale, seed: seed)
            params += shape.reduce(1, *)
        }
        return (weights, params)
    }
}

/// cuBLASLt bf16 GEMM throughput at the DiT's shapes.
enum GemmBench {
    static func run() throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        for (m, k, n, gelu) in [(4608, 3072, 9216, false), (4608, 3072, 12288, true), (4608, 12288, 3072, false), (4608, 15360, 3072, false), (8192, 8192, 8192, false)] {
            let x = gpu.randomUniform([m, k], dtype: .bf16, scale: 1, seed: 1)
            let w = gpu.randomUniform([n, k], dtype: .bf16, scale: 0.01, seed: 2)
            let b = gpu.randomUniform([n], dtype: .bf16, scale: 0.01, seed: 3)
            _ = gelu ? linearGeluTanh(x, weight: w, bias: b) : linear(x, weight: w, bias: b)
            let ms = (0..<5).map { _ in gpu.time { _ = gelu ? linearGeluTanh(x, weight: w, bias: b) : linear(x, weight: w, bias: b) } }.min()!
            print("gemm \(m)x\(k) * \(k)x\(n)\(gelu ? " +gelu" : "") +bias: \(fmt(ms, 3)) ms, \(fmt(2.0 * Double(m * n * k) / ms / 1e9, 1)) TFLOP/s")
        }
    }
}
