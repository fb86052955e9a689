import Models
import Tensor

/// The tiny FLUX.1-dev style pipeline (Tests/ModelsTests/Fixtures/tiny-flux) on the CPU, on the GPU
/// in f32 and in bf16: PSNR of the 8-bit pictures against the CPU's (goal >= 35 dB in bf16).
enum PipelineCheck {
    static func run(dir: String) throws -> Bool {
        var request = GenerationRequest(prompt: "a red fox in the snow, watercolor", seed: 42, steps: 4, width: 128, height: 96)
        request.maxSequenceLength = 32
        let files = try FluxModelFiles.resolve(modelDir: dir, dit: nil, overrides: .init(clip: nil, t5: nil, vae: nil))
        func generate(_ b: any Backend) throws -> ([UInt8], Double) {
            let p = try FluxPipeline(files: files, keepLoaded: true, backend: b)
            _ = try p.generate(request)  // load and warm up
            let t0 = now()
            let img = try p.generate(request)
            return (img.rgb, now() - t0)
        }
        let (cpu, tc) = try generate(CPUBackend.shared)
        print("tiny pipeline \(request.width)x\(request.height), \(request.steps) steps: cpu \(fmt(tc * 1000, 1)) ms")
        var ok = true
        for dtype in [DType.f32, .bf16] {
            let gpu = try CUDABackend.make(computeDType: dtype)
            let (rgb, tg) = try generate(gpu)
            let p = psnr(rgb, cpu)
            let goal = dtype == .f32 ? 45.0 : 35.0
            print("tiny pipeline on \(gpu.deviceName) \(dtype): PSNR vs cpu \(fmt(p, 1)) dB (goal >= \(goal)), \(fmt(tg * 1000, 1)) ms")
            if !(p >= goal) { ok = false }
        }
        return ok
    }
}
