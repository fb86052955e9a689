import Models
import Tensor

/// Issue 21's batches on the GPU: a full FLUX.1-dev-size DiT (random weights made on the device, bf16
/// and fp8) stepping a batch of N pictures (N rows of image and text tokens, one DiT call) at each
/// size; per-step time and images per second of the denoising loop (`steps` steps), N = 1, 2, 4.
/// The pipeline's batched generation makes exactly these calls (`FluxPipeline.generate(_:batch:)`).
enum DiTBatchBench {
    static func run(sizes: [Int], steps: Int = 20) throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        gpu.allowFP8TensorCores = true
        let c = FluxConfig()
        print("device: \(gpu.deviceName); FLUX.1-dev DiT, random weights; one DiT call per step for N pictures")
        let made = DiTBench.randomWeights(c, on: gpu)
        let models: [(String, FluxTransformer)] = [
            ("bf16", try FluxTransformer(config: c, weights: DictionaryWeights(made.weights), computeDType: .bf16, backend: gpu)),
            ("fp8", try FluxTransformer(config: c, weights: DictionaryWeights(made.weights), computeDType: .bf16,
                                        quantization: .fluxFP8, backend: gpu)),
        ]
        gpu.emptyCache()
        for (name, model) in models {
            for size in sizes.isEmpty ? [512] : sizes {
                let grid = size / 16, tokens = grid * grid
                var single = 0.0
                for n in [1, 2, 4] {
                    let img = gpu.randomUniform([n, tokens, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
                    let txt = gpu.randomUniform([n, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
                    let pooled = gpu.randomUniform([n, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
                    let t = [Float](repeating: 0.5, count: n), g = [Float](repeating: 3.5, count: n)
                    func step() -> Tensor { model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: t, guidance: g) }
                    gpu.resetPeak()
                    for _ in 0..<3 { _ = step() }
                    let times = (0..<5).map { _ in gpu.time { _ = step() } }.sorted()
                    if n == 1 { single = times[2] }
                    let ips = Double(n) / (times[2] * Double(steps) / 1000)
                    print("dit-batch \(name) \(size)x\(size) N=\(n): median \(fmt(times[2])) ms per step (best \(fmt(times[0]))), "
                          + "\(fmt(ips, 3)) images/s over \(steps) steps, \(fmt(Double(n) * single / times[2], 2))x N=1's throughput; "
                          + "peak in use \(fmt(Double(gpu.peakInUseBytes) / 1e9, 2)) GB")
                }
            }
        }
    }
}
