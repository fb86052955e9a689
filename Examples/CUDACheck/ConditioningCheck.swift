#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Models
import Tensor

/// Image-conditioned generation on the GPU (issue 18).
///
/// `run`: every conditioned fixture case (img2img, inpainting, Fill, Control, Kontext; the tiny
/// models of Tests/ModelsTests/Fixtures/conditioning) on the GPU in f32 and bf16 (and img2img in fp8)
/// against the CPU in f32 (the tolerances of `cuda-check pipeline`: f32 >= 45 dB, bf16 >= 35 dB).
/// `bench`: the VAE encoder at 1024x1024 (a FLUX.1 VAE folder) and a FLUX.1-dev-size Kontext step
/// (the image tokens plus as many reference tokens) against the plain step.
enum ConditioningCheck {
    static func run(fixtures: String) throws -> Bool {
        let dir = fixtures + "/conditioning"
        func picture(_ name: String) throws -> PNGImage { try PNG.read(dir + "/" + name).image }
        let (input, mask) = (try picture("input.png"), try picture("mask.png"))
        let cases: [(name: String, dit: String?, conditioning: ImageConditioning, guidance: Float, size: (Int, Int))] = [
            ("img2img 0.6", nil, ImageConditioning(image: input, strength: 0.6), 3.5, (64, 64)),
            ("img2img 0.6, input resized", nil, ImageConditioning(image: try picture("input_48x80.png"), strength: 0.6), 3.5, (64, 64)),
            ("inpainting 0.8", nil, ImageConditioning(image: input, mask: mask, strength: 0.8), 3.5, (64, 64)),
            ("outpainting", nil, ImageConditioning(image: input, outpaint: OutpaintMargins(left: 16, top: 0, right: 16, bottom: 16)), 3.5, (96, 80)),
            ("Fill", "tiny-flux-fill.safetensors", ImageConditioning(image: input, mask: mask), 30, (64, 64)),
            ("Control", "tiny-flux-control.safetensors", ImageConditioning(control: try picture("control_image.png")), 30, (64, 64)),
            ("Kontext", "kontext", ImageConditioning(reference: try picture("reference.png"), referenceResize: .off), 2.5, (64, 48)),
        ]
        var ok = true
        for c in cases {
            var ditPath = c.dit.map { dir + "/" + $0 }
            if c.dit == "kontext" {
                // Kontext is told apart by name: the tiny DiT under a Kontext file name.
                ditPath = "/tmp/tiny-flux-kontext.safetensors"
                try? FileManager.default.removeItem(atPath: ditPath!)
                try FileManager.default.createSymbolicLink(atPath: ditPath!, withDestinationPath: fixtures + "/tiny-flux-dit-comfy.safetensors")
            }
            let files = try FluxModelFiles.resolve(modelDir: fixtures + "/tiny-flux", dit: ditPath)
            var request = GenerationRequest(prompt: "a red circle on a blue background", seed: 42, steps: 4, width: c.size.0, height: c.size.1)
            request.maxSequenceLength = 64
            request.guidance = c.guidance
            request.conditioning = c.conditioning
            func generate(_ b: any Backend, _ precision: WeightPrecision) throws -> [UInt8] {
                try FluxPipeline(files: files, keepLoaded: true, precision: precision, backend: b).generate(request).rgb
            }
            let cpu = try generate(CPUBackend.shared, .f32)
            var line = "\(c.name):"
            for dtype in [DType.f32, .bf16] {
                let gpu = try CUDABackend.make(computeDType: dtype)
                let p = psnr(try generate(gpu, dtype == .f32 ? .f32 : .bf16), cpu)
                let goal = dtype == .f32 ? 45.0 : 35.0
                line += " \(dtype) \(fmt(p, 1)) dB (goal >= \(Int(goal)))"
                if !(p >= goal) { ok = false }
            }
            if c.dit == nil {
                let gpu = try CUDABackend.make(computeDType: .bf16)
                line += ", fp8 \(fmt(psnr(try generate(gpu, .fp8), cpu), 1)) dB (cpu fp8 \(fmt(psnr(try generate(CPUBackend.shared, .fp8), cpu), 1)) dB)"
            }
            print(line + " vs the CPU in f32")
        }
        return ok
    }

    /// VAE encode at `size` (a diffusers VAE folder, e.g. the one Tools/bench_conditioning_torch.py
    /// writes) and a Kontext DiT step at full size.
    static func bench(vaeDir: String?, sizes: [Int]) throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        if let vaeDir {
            let config = try ConfigFile.load(AutoencoderConfig.self, path: vaeDir + "/config.json", what: "VAE config")
            let vae = try AutoencoderKL(config: config, weights: VAECheckpointLayout.canonical(CheckpointWeights(path: vaeDir), config: config),
                                        computeDType: .bf16, backend: gpu)
            for size in sizes {
                let image = gpu.randomUniform([1, 3, size, size], dtype: .bf16, scale: 1, seed: 5)
                func encode() throws { _ = try vae.latentDistribution(image, mode: .off) }
                try encode()
                gpu.resetPeak()
                var times: [Double] = []
                for _ in 0..<5 { times.append(try gpu.timeThrowing { try encode() }) }
                times.sort()
                print("vae encode \(size)x\(size) bf16 on \(gpu.deviceName): best \(fmt(times[0])) ms, median \(fmt(times[2])) ms; peak in use \(fmt(Double(gpu.peakInUseBytes) / 1e9, 2)) GB")
                // Where the time goes: every kernel and GEMM timed separately for one encode.
                gpu.profiling = true
                try encode()
                gpu.profiling = false
                print(gpu.profileReport())
            }
        }
        let c = FluxConfig()
        let model = try FluxTransformer(config: c, weights: DictionaryWeights(DiTBench.randomWeights(c, on: gpu).weights), computeDType: .bf16, backend: gpu)
        gpu.emptyCache()
        for size in sizes {
            let grid = size / 16, tokens = grid * grid
            let img = gpu.randomUniform([1, tokens, c.inChannels], dtype: .bf16, scale: 1, seed: 100)
            let ref = gpu.randomUniform([1, tokens, c.inChannels], dtype: .bf16, scale: 1, seed: 103)
            let txt = gpu.randomUniform([1, 512, c.jointAttentionDim], dtype: .bf16, scale: 1, seed: 101)
            let pooled = gpu.randomUniform([1, c.pooledProjectionDim], dtype: .bf16, scale: 1, seed: 102)
            func median(_ reference: (tokens: Tensor, height: Int, width: Int)?) -> Double {
                func step() { _ = model(img: img, height: grid, width: grid, txt: txt, pooled: pooled, timestep: [0.5], guidance: [2.5], reference: reference) }
                for _ in 0..<3 { step() }
                gpu.synchronize()
                return (0..<7).map { _ in gpu.time { step() } }.sorted()[3]
            }
            let plain = median(nil), kontext = median((ref, grid, grid))
            print("dit kontext \(size)x\(size) (\(tokens) image + \(tokens) reference + 512 text tokens): median \(fmt(kontext)) ms per step; "
                  + "plain step \(fmt(plain)) ms (\(fmt(kontext / plain, 2))x)")
        }
    }
}

private extension CUDABackend {
    /// `time` for a throwing body.
    func timeThrowing(_ body: () throws -> Void) throws -> Double {
        var failure: (any Error)?
        let ms = time { do { try body() } catch { failure = error } }
        if let failure { throw failure }
        return ms
    }
}
