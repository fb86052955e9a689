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
        var ran = true
        for precision in [WeightPrecision.bf16, .fp8] {
            let pipeline = try FluxPipeline(files: files, keepLoaded: true, precision: precision, backend: gpu)
            for fp8Attention in [false, true] {
                gpu.fp8Attention = fp8Attention
                let dir = out + "/\(precision.rawValue)-\(fp8Attention ? "fp8" : "bf16")"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let t0 = now()
                for (i, row) in eval.held_out_float32.rows.enumerated() {
                    var r = GenerationRequest(prompt: row.prompt, seed: row.seed, steps: 20, width: 128, height: 128)
                    r.maxSequenceLength = pipeline.preferredSequenceLength
                    let image = try pipeline.generate(r)
                    ran = ran && gpu.lastAttentionFP8 == fp8Attention
                    try PNGImage(width: 128, height: 128, channels: 3, pixels: image.rgb).write(to: dir + String(format: "/%02d.png", i))
                }
                print("heldout \(precision.rawValue) weights, \(fp8Attention ? "fp8" : "bf16") attention: \(eval.held_out_float32.rows.count) pictures in \(fmt(now() - t0, 1)) s -> \(dir)")
            }
            gpu.fp8Attention = false
        }
        print("heldout: \(ran ? "the fp8 kernel ran exactly where asked" : "FAILED: the fp8 kernel did not run where asked (or ran where not)")")
        return ran
    }
}
