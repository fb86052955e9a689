import Foundation
import Models
import Tensor

/// The default model's 96 held-out prompts (Tools/train_default_model/runs/v3/eval.json: prompt, seed)
/// generated on the GPU as `DefaultModelQualityTests` does on the CPU (20 steps, 128x128), for bf16
/// and fp8 weights, each with bf16 and fp8 attention; the pictures are written as PNGs to
/// OUT/<weights>-<attention>/NN.png and scored afterwards by Tools/score_heldout.py (the Python
/// analyser the Swift tests' `SceneAnalyser` was ported from), away from the GPU.
enum HeldOutCheck {
    struct Row: Decodable { let prompt: String; let seed: UInt64 }
    struct Split: Decodable { let rows: [Row] }
    struct Eval: Decodable { let held_out_float32: Split }

    static func run(modelDir: String, out: String) throws -> Bool {
        let eval = try JSONDecoder().decode(Eval.self, from: Data(contentsOf: URL(fileURLWithPath: "Tools/train_default_model/runs/v3/eval.json")))
        let gpu = try CUDABackend.make(computeDType: .bf16)
        guard gpu.fp8AttentionAvailable else { print("heldout: fp8 attention not available on \(gpu.deviceName)"); return false }
        let files = try FluxModelFiles.resolve(modelDir: modelDir)
        // Whether fp8 attention ran shows in the pictures: `lastAttentionFP8` is reset by the VAE's
        // own attention (head size 64 in the default model), which runs after the DiT.
        var ran = true
        for precision in [WeightPrecision.bf16, .fp8] {
            let pipeline = try FluxPipeline(files: files, keepLoaded: true, precision: precision, backend: gpu)
            var bf16Pictures: [[UInt8]] = []
            // fp8 weights with fp8 attention a second time with delayed e4m3 scales off ("-exact"):
            // their effect on the same prompts, scored side by side.
            let runs: [(fp8Attention: Bool, delayed: Bool)] = precision == .fp8 ? [(false, true), (true, true), (true, false)] : [(false, true), (true, true)]
            for (fp8Attention, delayed) in runs {
                gpu.fp8Attention = fp8Attention
                gpu.fp8DelayedScales = delayed
                defer { gpu.fp8DelayedScales = true }
                let dir = out + "/\(precision.rawValue)-\(fp8Attention ? "fp8" : "bf16")\(delayed ? "" : "-exact")"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let t0 = now()
                var differ = 0, clipsBefore = 0
                for (i, row) in eval.held_out_float32.rows.enumerated() {
                    var r = GenerationRequest(prompt: row.prompt, seed: row.seed, steps: 20, width: 128, height: 128)
                    r.maxSequenceLength = pipeline.preferredSequenceLength
                    let image = try pipeline.generate(r)
                    if fp8Attention { differ += image.rgb == bf16Pictures[i] ? 0 : 1 } else { bf16Pictures.append(image.rgb) }
                    if i == 0 { clipsBefore = pipeline.fp8DelayedScales.map { gpu.delayedScaleClips($0) ?? 0 }.reduce(0, +) }
                    try PNGImage(width: 128, height: 128, channels: 3, pixels: image.rgb).write(to: dir + String(format: "/%02d.png", i))
                }
                print("heldout \(precision.rawValue) weights, \(fp8Attention ? "fp8" : "bf16") attention: \(eval.held_out_float32.rows.count) pictures in \(fmt(now() - t0, 1)) s -> \(dir)"
                      + (fp8Attention ? "; \(differ) differ from the bf16-attention pictures" : "")
                      + (precision == .fp8 ? "; delayed scales \(delayed ? "on" : "off"): \(pipeline.fp8DelayedScales.count) scales, "
                         + "\(pipeline.fp8DelayedScales.map { gpu.delayedScaleClips($0) ?? 0 }.reduce(0, +) - clipsBefore) clips after the first picture" : ""))
                if fp8Attention && differ == 0 { ran = false }
            }
            gpu.fp8Attention = false
        }
        print("heldout: \(ran ? "fp8 attention changed the pictures" : "FAILED: fp8 attention changed no picture (did its kernel run?)")")
        return ran
    }
}
