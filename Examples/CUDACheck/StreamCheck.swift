import Models
import Tensor

/// Low-VRAM mode at full FLUX.1-dev size: the same random DiT (block Linears in fp8, or bf16) once
/// with every block resident and once with its blocks streamed within a weight budget; one step at
/// 1024x1024 timed for both (the goal: streamed within 1.5x of resident), outputs compared (the
/// same weights and kernels: they should agree exactly), the copy link's speed, and the streamed
/// model's device memory (block weights + activations, the random source weights left out).
enum StreamCheck {
    static func run(weightBudgetGiB: Double, fp8: Bool, slots: Int) throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let c = FluxConfig()
        print("device: \(gpu.deviceName); FLUX.1-dev DiT, \(fp8 ? "block Linears fp8 e4m3" : "bf16"), random weights; streamed with \(fmt(weightBudgetGiB, 2)) GiB for weights, \(slots) slots")
        let weights = DiTBench.randomWeights(c, on: gpu).weights
        let source = DictionaryWeights(weights)
        let sourceBytes = weights.values.reduce(0) { $0 + $1.byteCount }
        let grid = 64
        let img = gpu.randomUniform([1, grid * grid, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
        let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
        let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)

        /// Best and median GPU ms of 5 steps after 3 warm-up steps, and the last output.
        func timeSteps(_ m: FluxTransformer) -> (best: Double, median: Double, out: [Float]) {
            func step() -> Tensor { m(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]) }
            for _ in 0..<3 { _ = step() }
            gpu.synchronize()
            var out: Tensor?
            let t = (0..<5).map { _ in gpu.time { out = step() } }.sorted()
            return (t[0], t[2], out!.floats())
        }

        let quant: LinearQuantization? = fp8 ? .fluxFP8 : nil
        var t0 = now()
        var resident: FluxTransformer? = try FluxTransformer(config: c, weights: source, computeDType: .bf16, quantization: quant, backend: gpu)
        print("resident model loaded in \(fmt(now() - t0, 1)) s: \(fmt(Double(resident!.weightByteCount) / 1e9, 2)) GB of weights")
        let a = timeSteps(resident!)
        print("resident step 1024x1024: best \(fmt(a.best)) ms, median \(fmt(a.median)) ms")
        resident = nil
        gpu.emptyCache()

        t0 = now()
        let budget = Int(weightBudgetGiB * Double(1 << 30))
        let streamed = try FluxTransformer(config: c, weights: source, computeDType: .bf16, quantization: quant, backend: gpu,
                                           streaming: BlockStreaming(weightBudget: budget, slots: slots, keepsHostCopies: true))
        gpu.emptyCache()
        print("streamed model loaded in \(fmt(now() - t0, 1)) s; \(streamed.residencySummary)")
        let held = gpu.bytesInUse
        gpu.resetPeak()
        let b = timeSteps(streamed)
        let activations = gpu.peakInUseBytes - held
        let r = streamed.residency!
        let weightsOnDevice = r.deviceBytes + r.otherWeightBytes
        print("streamed step 1024x1024: best \(fmt(b.best)) ms, median \(fmt(b.median)) ms = \(fmt(b.median / a.median, 2))x resident (goal <= 1.5x); \(fmt(Double(r.bytesPerPass) / 1e9, 2)) GB copied per step = \(fmt(Double(r.bytesPerPass) / 1e6 / b.median, 1)) GB/s sustained")
        print("streamed model device memory: weights \(fmt(Double(weightsOnDevice) / 1e9, 2)) GB + activations (peak in use during the steps) \(fmt(Double(activations) / 1e9, 2)) GB = \(fmt(Double(weightsOnDevice + activations) / Double(1 << 30), 2)) GiB (random source weights, \(fmt(Double(sourceBytes) / 1e9, 1)) GB, not counted)")

        // The same model placed again under other budgets (evict / place: no reloading): the curve of
        // step time against device memory for weights.
        for other in [2.5, 3.0, 5.0, 6.0, 8.0] where abs(other - weightBudgetGiB) > 0.01 {
            streamed.evictBlocks()
            gpu.emptyCache()
            do { try streamed.placeBlocks(weightBudget: Int(other * Double(1 << 30))) } catch {
                print("  \(fmt(other, 1)) GiB for weights: \(error)")
                continue
            }
            let t = timeSteps(streamed)
            let rr = streamed.residency!
            print("  \(fmt(other, 1)) GiB for weights: \(rr.residentBlocks) resident, \(rr.streamedBlocks) streamed, \(fmt(Double(rr.bytesPerPass) / 1e9, 2)) GB per step; median \(fmt(t.median)) ms = \(fmt(t.median / a.median, 2))x resident")
        }
        var maxDiff: Float = 0
        for (x, y) in zip(a.out, b.out) { maxDiff = max(maxDiff, abs(x - y)) }
        let finite = b.out.allSatisfy { $0.isFinite }
        print("streamed vs resident output: max |difference| \(maxDiff) over \(b.out.count) values; finite: \(finite)")

        // The link alone: 1 GiB from page-locked host memory to the device on the copy stream.
        let bytes = 1 << 30
        let host = try gpu.hostBuffer(byteCount: bytes)
        let dev = gpu.allocate(byteCount: bytes)
        let done = gpu.makeFence()
        var best = Double.infinity
        for _ in 0..<3 {
            let w0 = now()
            gpu.uploadAsync(host.pointer, count: bytes, to: dev, byteOffset: 0, after: nil, done: done)
            gpu.hostWait(done)
            best = min(best, now() - w0)
        }
        print("host -> device copy, page-locked, copy stream: \(fmt(Double(bytes) / best / 1e9, 1)) GB/s")
        return finite && maxDiff <= 1e-2
    }
}
