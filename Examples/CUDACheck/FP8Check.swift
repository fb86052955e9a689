import Tensor

/// fp8 linear layers on the GPU (issue 8's first point) at the FLUX.1-dev DiT's GEMM shapes (4608 rows
/// = 1024x1024 image + 512 text tokens): error of the fp8 tensor-core path and of the dequantise
/// fallback against the bf16 GEMM with the unquantised weight (relative RMS), and time of each
/// (the fp8 time includes quantising the activations per row).
enum FP8Check {
    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        print("device: \(gpu.deviceName), sm_\(gpu.capability.0)\(gpu.capability.1), fp8 tensor cores: \(gpu.hasFP8TensorCores)")
        var ok = true
        func rel(_ a: [Float], _ b: [Float]) -> Double {
            var num = 0.0, den = 0.0
            for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
            return (num / Swift.max(den, 1e-30)).squareRoot()
        }
        for (rows, k, n, gelu) in [(4608, 3072, 9216, false), (4608, 3072, 12288, true), (4608, 15360, 3072, false), (4608, 12288, 3072, false), (333, 3072, 3072, false)] {
            let x = gpu.randomUniform([rows, k], dtype: .bf16, scale: 1, seed: 11)
            let w = gpu.randomUniform([n, k], dtype: .bf16, scale: 1 / Float(k).squareRoot(), seed: 12)
            let b = gpu.randomUniform([n], dtype: .bf16, scale: 0.01, seed: 13)
            for perTensor in [false, true] {
            let (codes, scale) = perTensor ? gpu.quantizeTensorE4M3(w) : gpu.quantizeRowsE4M3(w)
            let wErr = rel(gpu.dequantizeRowsE4M3(codes, scale: scale).floats(), w.floats())
            func bf16() -> Tensor { gelu ? linearGeluTanh(x, weight: w, bias: b) : linear(x, weight: w, bias: b) }
            func fp8() -> Tensor { gpu.fp8Linear(x, codes: codes, scale: scale, bias: b, gelu: gelu) }
            let ref = bf16().floats()
            gpu.allowFP8TensorCores = true
            let fast = fp8().floats(), path = gpu.lastFP8Path
            gpu.allowFP8TensorCores = false
            let slow = fp8().floats()
            let fastErr = rel(fast, ref), slowErr = rel(slow, ref)
            let tBF16 = (0..<5).map { _ in gpu.time { _ = bf16() } }.min()!
            let tSlow = (0..<5).map { _ in gpu.time { _ = fp8() } }.min()!
            gpu.allowFP8TensorCores = true
            _ = fp8()
            let tFast = (0..<5).map { _ in gpu.time { _ = fp8() } }.min()!
            let flops = 2.0 * Double(rows) * Double(k) * Double(n)
            // Two e4m3 roundings (3 mantissa bits, 2^-4 relative each) give about 3-5% RMS.
            let pass = fastErr < 0.08 && slowErr < 0.06 && wErr < 0.05
            ok = ok && pass
            print("\(rows)x\(k)x\(n)\(gelu ? " +gelu" : "") +bias, \(perTensor ? "per-tensor" : "per-channel") weight: [\(path)\(gpu.fp8GemmFailure.isEmpty ? "" : "; " + gpu.fp8GemmFailure)] error vs bf16 \(fmt(fastErr, 4)) (dequant path \(fmt(slowErr, 4)), weight \(fmt(wErr, 4))) \(pass ? "ok" : "FAIL"); "
                  + "bf16 \(fmt(tBF16, 3)) ms (\(fmt(flops / tBF16 / 1e9, 0)) TFLOP/s), fp8 \(fmt(tFast, 3)) ms (\(fmt(flops / tFast / 1e9, 0))) = \(fmt(tFast / tBF16, 2))x, dequant \(fmt(tSlow, 3)) ms")
            }
        }
        // Per-tensor activation quantisation (vectorised two-pass kernels) against the CPU's e4m3 codec:
        // the same scale and the same code for every value (the CPU may differ only where |x| is the
        // maximum, which rounds to 448 on the GPU's saturating conversion), and its speed.
        for (rows, k) in [(4608, 3072), (4608, 15360), (1, 3072), (333, 3072)] {
            let x = gpu.randomUniform([rows, k], dtype: .bf16, scale: 3, seed: 31)
            let (codes, scale) = gpu.quantizeTensorE4M3(x)
            let xs = x.floats()
            let amax = xs.reduce(Float(0)) { Swift.max($0, abs($1)) }
            let s = amax > 0 ? amax / 448 : 1, inv = 1 / s
            let expected = Tensor(xs.map { $0 * inv }, shape: [rows, k]).to(.f8e4m3fn).floats()
            let got = codes.floats(), gotScale = scale.floats()[0]
            var mismatches = 0, atMax = 0
            for i in 0..<got.count where got[i] != expected[i] && !(got[i].isNaN && expected[i].isNaN) {
                if abs(xs[i]) == amax { atMax += 1 } else { mismatches += 1 }
            }
            _ = gpu.quantizeTensorE4M3(x)
            let ms = (0..<10).map { _ in gpu.time { _ = gpu.quantizeTensorE4M3(x) } }.min()!
            let pass = mismatches == 0 && gotScale == s
            ok = ok && pass
            print("per-tensor quantisation \(rows)x\(k): scale \(gotScale) (cpu \(s)), \(mismatches) codes differ from the cpu's (\(atMax) at the maximum) \(pass ? "ok" : "FAIL"); "
                  + "\(fmt(ms * 1000, 1)) us = \(fmt(Double(rows * k) * 2.5 / ms / 1e6, 0)) GB/s (read twice, written once)")
        }
        // Per-row quantisation (weights per channel, activations per row) against the CPU codec.
        do {
            let rows = 333, k = 3072
            let x = gpu.randomUniform([rows, k], dtype: .bf16, scale: 3, seed: 41)
            let (codes, scale) = gpu.quantizeRowsE4M3(x)
            let xs = x.floats(), got = codes.floats(), gotScale = scale.floats()
            var mismatches = 0, badScales = 0
            for r in 0..<rows {
                let row = xs[(r * k)..<((r + 1) * k)]
                let amax = row.reduce(Float(0)) { Swift.max($0, abs($1)) }
                let s = amax > 0 ? amax / 448 : 1, inv = 1 / s
                if gotScale[r] != s { badScales += 1 }
                let expected = Tensor(row.map { $0 * inv }, shape: [k]).to(.f8e4m3fn).floats()
                for i in 0..<k where got[r * k + i] != expected[i] && abs(row[row.startIndex + i]) != amax { mismatches += 1 }
            }
            let pass = mismatches == 0 && badScales == 0
            ok = ok && pass
            print("per-row quantisation \(rows)x\(k): \(badScales) scales and \(mismatches) codes differ from the cpu's \(pass ? "ok" : "FAIL")")
        }
        // The single block's fused path: attention output and the fp8 MLP GEMM's GELU output written
        // side by side into one (4608, 3072 + 12288) matrix, against concat of the separate results.
        do {
            let attn = gpu.randomUniform([1, 4608, 3072], dtype: .bf16, scale: 1, seed: 21)
            let h = gpu.randomUniform([1, 4608, 3072], dtype: .bf16, scale: 1, seed: 22)
            let w = gpu.randomUniform([12288, 3072], dtype: .bf16, scale: 1 / Float(3072).squareRoot(), seed: 23)
            let b = gpu.randomUniform([12288], dtype: .bf16, scale: 0.01, seed: 24)
            let (codes, scale) = gpu.quantizeTensorE4M3(w)
            let fused = gpu.fp8ConcatLinearGeluTanh(attn, h, codes: codes, scale: scale, bias: b).floats()
            let apart = concat([attn, gpu.fp8Linear(h, codes: codes, scale: scale, bias: b, gelu: true)], dim: -1).floats()
            let err = rel(fused, apart)
            let pass = err < 0.01
            ok = ok && pass
            print("fp8 concat + GELU into one matrix (single block): relative difference to concat of the parts \(fmt(err, 5)) \(pass ? "ok" : "FAIL")")
        }
        gpu.profiling = true
        let x = gpu.randomUniform([4608, 3072], dtype: .bf16, scale: 1, seed: 1)
        let (codes, scale) = gpu.quantizeTensorE4M3(gpu.randomUniform([9216, 3072], dtype: .bf16, scale: 0.02, seed: 2))
        _ = gpu.fp8Linear(x, codes: codes, scale: scale, bias: nil)
        gpu.profiling = false
        print(gpu.profileReport())
        print("fp8: \(ok ? "all passed" : "FAILURES")")
        return ok
    }
}
