import Foundation
import Tensor

/// Where a key tile's time goes inside `flash_wg3_fp8_d128`: at Flux's joint lengths, with and without
/// the consumers' ping-pong, times the kernel (quantisation included), gives its error against bf16
/// attention, and runs the traced kernel (`CUDABackend.fp8AttentionTimeline`); prints the mean cycles
/// between the kernel's 8 points per tile (steady-state tiles only: the first and last are left out),
/// per consumer, then one block's first tiles as a timeline of both consumers (warp 0 of each) so the
/// overlap of one's softmax with the other's GEMMs shows.
enum AttentionTraceCheck {
    static let points = ["top", "K/V landed", "turn", "issued", "GEMMs done", "softmax", "(same)", "packed"]

    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        guard gpu.fp8AttentionAvailable else { print("attn-trace: fp8 attention not available here"); return false }
        let saved = gpu.configuration
        defer { gpu.configuration = saved }
        var ok = true
        for l in [4608, 1536] {
            let q = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 7)
            let k = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 8)
            let v = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 9)
            // Peaked scores (a trained model's few dominant keys): Q, K at 3x.
            let q3 = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 3, seed: 7)
            let k3 = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 3, seed: 8)
            gpu.configuration = saved
            gpu.fp8Attention = false
            let ref = scaledDotProductAttention(q, k, v).floats(), ref3 = scaledDotProductAttention(q3, k3, v).floats()
            let flops = 4.0 * Double(l) * Double(l) * 128 * 24
            for kernel in [CUDABackend.FlashKernel.wgmma3pp, .wgmma3] {
                var c = saved
                c.flashKernel = kernel
                c.fp8Attention = true
                gpu.configuration = c
                let title = "(1, 24, \(l), 128), \(kernel.rawValue)"
                _ = scaledDotProductAttention(q, k, v)
                let ms = (0..<10).map { _ in gpu.time { _ = scaledDotProductAttention(q, k, v) } }.min()!
                let e = AttentionFP8Check.rms(scaledDotProductAttention(q, k, v).floats(), ref)
                let e3 = AttentionFP8Check.rms(scaledDotProductAttention(q3, k3, v).floats(), ref3)
                print("\(title): \(fmt(ms, 3)) ms (\(fmt(flops / ms / 1e9, 1)) TFLOP/s, quantisation included), "
                      + "error vs bf16 \(fmt(e, 4)), peaked scores \(fmt(e3, 4))")
                _ = gpu.fp8AttentionTimeline(q, k, v)
                guard let st = gpu.fp8AttentionTimeline(q, k, v) else { print("attn-trace: no traced kernel"); return false }
                ok = report(st, tiles: (l + 127) / 128, blocks: (l + 127) / 128, title: title) && ok
            }
        }
        return ok
    }

    /// Prints the means; false when a stamp is missing (a point the kernel never reached).
    static func report(_ st: [Int64], tiles nT: Int, blocks: Int, title: String) -> Bool {
        func at(_ b: Int, _ w: Int, _ j: Int, _ p: Int) -> Int64 { st[((b * 8 + w) * nT + j) * 8 + p] }
        if st.contains(0) { print("\(title): \(st.filter { $0 == 0 }.count) stamps missing"); return false }
        print("\(title): mean cycles per key tile, tiles 1 ... \(nT - 2) of \(blocks) blocks")
        for c in 0..<2 {
            var sums = [Double](repeating: 0, count: 8), n = 0.0
            for b in 0..<blocks {
                for w in c * 4..<(c * 4 + 4) {
                    for j in 1..<(nT - 1) {
                        for p in 1..<8 { sums[p] += Double(at(b, w, j, p) - at(b, w, j, p - 1)) }
                        sums[0] += Double(at(b, w, j + 1, 0) - at(b, w, j, 0))
                        n += 1
                    }
                }
            }
            let parts = (1..<8).map { "\(points[$0 - 1])->\(points[$0]) \(fmt(sums[$0] / n, 0))" }.joined(separator: ", ")
            print("  consumer \(c): period \(fmt(sums[0] / n, 0)): " + parts)
        }
        // Block 0, warp 0 of each consumer, tiles 1 ... 4, cycles from the block's first stamp.
        let t0 = (0..<8).map { at(0, $0, 0, 0) }.min()!
        for w in [0, 4] {
            let line = (1...Swift.min(4, nT - 1)).map { j in "[" + (0..<8).map { "\(at(0, w, j, $0) - t0)" }.joined(separator: " ") + "]" }
            print("  block 0 consumer \(w / 4) warp 0: " + line.joined(separator: " "))
        }
        return true
    }
}
