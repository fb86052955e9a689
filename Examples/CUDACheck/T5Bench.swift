import Foundation
import Models
import Tensor

/// T5 encoder speed on the GPU: the model folder's `text_encoder_2` (e.g. the FLUX.1-dev-size random
/// folder: T5-XXL, 4.8B parameters, bf16), 512 tokens, one prompt: GPU time per encode (best and median
/// of 5 after 2 warm-up calls) and where it goes (every kernel and GEMM timed separately).
enum T5Bench {
    static func run(modelDir: String) throws {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let dir = modelDir + "/text_encoder_2"
        let config = try JSONDecoder().decode(T5Config.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json")))
        let t0 = Date()
        let t5 = try T5Encoder(config: config, weights: T5CheckpointLayout.canonical(CheckpointWeights(path: dir)),
                               computeDType: .bf16, backend: gpu)
        gpu.synchronize()
        print("T5: \(config.numLayers) layers, d_model \(config.dModel), loaded in \(fmt(Date().timeIntervalSince(t0), 2)) s")
        let ids = [(0..<512).map { $0 < 20 ? 100 + $0 : ($0 == 20 ? 1 : 0) }]  // 20 tokens, </s>, padding
        for _ in 0..<2 { _ = t5(ids) }
        gpu.synchronize()
        var host = 0.0
        let times = (0..<5).map { _ in gpu.time { let h0 = Date(); _ = t5(ids); host = Date().timeIntervalSince(h0) * 1000 } }.sorted()
        let flops = 2.0 * 512 * Double(config.numLayers) * Double(4 * config.dModel * config.numHeads * config.dKV + 3 * config.dModel * config.dFF)
        print("t5 encode 512 tokens: best \(fmt(times[0])) ms, median \(fmt(times[2])) ms (host queueing \(fmt(host)) ms; GEMMs \(fmt(flops / 1e12, 2)) TFLOP = \(fmt(flops / times[0] / 1e9, 1)) TFLOP/s)")
        gpu.profiling = true
        _ = t5(ids)
        gpu.profiling = false
        print(gpu.profileReport())
    }
}
