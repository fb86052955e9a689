import Foundation
import Models
import Tensor

/// `flux-bench --case batch`: throughput of batched generation (issue 21) on any model folder and
/// device. The pipeline keeps every stage loaded; one warm-up picture, then for each batch size N
/// the best of `repeats` runs of `generate(_:batch:)`. One JSON line per N: wall seconds for the
/// batch (text, steps, decode), its denoising seconds (first to last step), images per second on
/// both, and on CUDA the peak device memory by the driver's count.
struct BatchBench {
    var dir: String
    var device: ComputeDevice
    var precision: WeightPrecision
    var size: Int
    var steps: Int
    var batches: [Int]
    var repeats: Int

    func run() throws {
        let pipeline = try FluxPipeline(modelDirectory: dir, device: device, precision: precision, keepLoaded: true)
        let t0 = now()
        try pipeline.loadAll()
        let load = now() - t0
        var request = pipeline.request(prompt: "a lighthouse on a cliff at dusk, watercolor", seed: 42)
        (request.steps, request.width, request.height) = (steps, size, size)
        let gpu = pipeline.backend as? CUDABackend
        _ = try pipeline.generate(request)  // warm-up: kernels compiled, buffers pooled
        for n in batches {
            var best = (wall: Double.infinity, denoise: Double.infinity)
            gpu?.resetPeak()
            for _ in 0..<repeats {
                var firstStep = 0.0, lastStep = 0.0
                let start = now()
                let images = try pipeline.generate(request, batch: n) { p in
                    if p.stage == .denoising { if p.step == 0 { firstStep = now() } else { lastStep = now() } }
                    return true
                }
                let wall = now() - start
                precondition(images.count == n && pipeline.lastBatchRows == n, "the batch did not run in one pass")
                if wall < best.wall { best = (wall, lastStep - firstStep) }
            }
            var fields: [(String, String)] = [
                ("case", "\"batch\""), ("device", "\"\(pipeline.backend.name)\""), ("precision", "\"\(precision.rawValue)\""),
                ("size", "\(size)"), ("steps", "\(steps)"), ("batch", "\(n)"), ("load_s", String(format: "%.2f", load)),
                ("wall_s", String(format: "%.3f", best.wall)), ("denoise_s", String(format: "%.3f", best.denoise)),
                ("images_per_s", String(format: "%.4f", Double(n) / best.wall)),
                ("denoise_images_per_s", String(format: "%.4f", Double(n) / best.denoise)),
            ]
            if let gpu { fields.append(("device_peak_mib", "\(gpu.peakDeviceUsedBytes >> 20)")) }
            print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        }
    }
}
