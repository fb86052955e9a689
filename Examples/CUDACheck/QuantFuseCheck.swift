import Models
import Tensor

/// cuda-check quantfuse: the fp8 DiT's activation quantisation with the amax from the producer
/// (CUDABackend+FP8Activations.swift) against the two-pass `quantizeTensorE4M3`, at FLUX.1-dev shapes:
/// (a) the modulated LayerNorm's partial maxima give byte-identical codes and scale; (b) whether
/// cuBLASLt writes max |D| for the fp8 GELU GEMM (AMAX_D_POINTER) and how it compares with an amax
/// pass over that D, and the single block's [attention | GELU] input quantised from both; (c) times of
/// the old and new forms; (d) one fp8 DiT step with `fp8FusedAmax` off and on (A/B, alternating).
enum QuantFuseCheck {
    static func run(sizes: [Int]) throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        print("device: \(gpu.deviceName), sm_\(gpu.capability.0)\(gpu.capability.1), fp8 tensor cores: \(gpu.hasFP8TensorCores)")
        func fused(_ on: Bool) { var c = gpu.configuration; c.fp8FusedAmax = on; gpu.configuration = c }
        func best(_ body: () -> Void) -> Double {
            body()
            return (0..<10).map { _ in gpu.time(body) }.min()!
        }
        /// Bit patterns of the decoded codes: equal exactly when the e4m3 bytes are (no NaN codes arise).
        func bits(_ t: Tensor) -> [UInt32] { t.floats().map(\.bitPattern) }
        func differing(_ a: [UInt32], _ b: [UInt32]) -> Int { zip(a, b).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) } }
        var ok = true

        // (a) The modulated LayerNorm's partial maxima: the same codes and scale as quantising its output.
        fused(true)
        for (b, l, d) in [(1, 4608, 3072), (1, 4096, 3072), (1, 512, 3072), (2, 333, 3072), (1, 9, 64)] {
            let x = gpu.randomUniform([b, l, d], dtype: .bf16, scale: 2, seed: 41)
            let shift = gpu.randomUniform([b, d], dtype: .bf16, scale: 0.5, seed: 42)
            let scale = gpu.randomUniform([b, d], dtype: .bf16, scale: 0.5, seed: 43)
            let y = modulatedLayerNorm(x, shift: shift, scale: scale, eps: 1e-6)
            let (codes, s) = gpu.quantizeTensorE4M3(y.reshaped([b * l, d]))
            let q = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: 1e-6, delayed: nil)
            let bad = differing(bits(codes), bits(q.codes)), sameScale = bits(s) == bits(q.scale)
            let pass = bad == 0 && sameScale && q.shape == [b, l, d]
            ok = ok && pass
            print("(a) modulated LayerNorm (\(b), \(l), \(d)) quantised with its own partial maxima: scale \(q.scale.floats()[0]) "
                  + "(two-pass \(s.floats()[0])), \(bad) codes differ \(pass ? "ok" : "FAIL")")
        }

        // (b) cuBLASLt's max |D| on the fp8 GEMM with bias + GELU (fc1 / the single block's MLP rows).
        let rows = 4608, k = 3072, n = 12288
        let h = gpu.randomUniform([1, rows, k], dtype: .bf16, scale: 2, seed: 51)
        let w = gpu.randomUniform([n, k], dtype: .bf16, scale: 1 / Float(k).squareRoot(), seed: 52)
        let bias = gpu.randomUniform([n], dtype: .bf16, scale: 0.05, seed: 53)
        let (wc, ws) = gpu.quantizeTensorE4M3(w)
        let q = gpu.quantizeActivation(h)
        do {
            let out = gpu.empty([1, rows, n], .bf16)
            let amax = Tensor([Float(-1)], shape: [1], backend: gpu)
            let accepted = gpu.fp8Linear(q, codes: wc, scale: ws, bias: bias, gelu: true, into: out, ldc: n, amax: amax)
            let scanned = out.floats().reduce(Float(0)) { Swift.max($0, abs($1)) }
            let got = amax.floats()[0]
            // D is rounded to bf16 after cuBLASLt takes its amax: within half a bf16 step is that rounding.
            let within = abs(got - scanned) <= scanned * 0.5 / 128 * 1.001
            print("(b) fp8 GEMM \(rows)x\(k)x\(n) +bias +GELU with AMAX_D_POINTER: cuBLASLt \(accepted ? "accepted" : "refused (\(gpu.fp8GemmFailure))"); "
                  + "amax \(got) vs amax pass over D \(scanned): \(got == scanned ? "equal" : (within ? "within the bf16 rounding of D" : "DIFFERENT")), "
                  + "relative \(fmt(Double(abs(got - scanned) / Swift.max(scanned, 1e-30)), 6)); path: \(gpu.lastFP8Path)")
            if accepted { ok = ok && within }
        }
        do {
            // The fc1 -> fc2 hand-over and the single block's [attention | GELU] input, each against
            // the two-pass quantisation of the same matrix.
            let viaAmax = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: nil)
            let plainY = gpu.fp8Linear(q, codes: wc, scale: ws, bias: bias, gelu: true)
            let (pc, ps) = gpu.quantizeTensorE4M3(plainY.reshaped([rows, n]))
            print("(b) GELU output quantised for fc2: scale \(viaAmax.scale.floats()[0]) (two-pass over the plain GEMM's D \(ps.floats()[0])), "
                  + "\(differing(bits(viaAmax.codes), bits(pc))) of \(rows * n) codes differ (a different GEMM algorithm may round D differently)")
            let attn = gpu.randomUniform([1, rows, k], dtype: .bf16, scale: 3, seed: 54)
            let joint = gpu.fp8ConcatLinearGeluTanhE4M3(attn, q, codes: wc, scale: ws, bias: bias)
            let plainJoint = concat([attn, plainY], dim: -1)
            let (jc, js) = gpu.quantizeTensorE4M3(plainJoint.reshaped([rows, k + n]))
            let jointScale = joint.scale.floats()[0], twoPass = js.floats()[0]
            let pass = abs(jointScale - twoPass) <= twoPass * 0.5 / 128 * 1.001 && joint.shape == [1, rows, k + n]
            ok = ok && pass
            print("(b) [attention | GELU] quantised for linear2: scale \(jointScale) (two-pass \(twoPass)), "
                  + "\(differing(bits(joint.codes), bits(jc))) of \(rows * (k + n)) codes differ \(pass ? "ok" : "FAIL")")
        }

        // (c) Times: old (amax pass + quantise pass) against new (quantise pass with the producer's amax).
        do {
            for (l, d) in [(4608, 3072), (4608, 15360)] {
                let x = gpu.randomUniform([l, d], dtype: .bf16, scale: 2, seed: 61)
                let parts = Tensor([Float(6)], shape: [1], backend: gpu)  // an amax known ahead
                let old = best { _ = gpu.quantizeTensorE4M3(x) }
                let new = best { _ = gpu.quantizeTensorE4M3(x, partialMaxima: parts) }
                print("(c) quantise \(l)x\(d): two passes \(fmt(old * 1000, 1)) us, known amax \(fmt(new * 1000, 1)) us (\(fmt(new / old, 2))x)")
            }
            let x = gpu.randomUniform([1, rows, k], dtype: .bf16, scale: 2, seed: 62)
            let shift = gpu.randomUniform([1, k], dtype: .bf16, scale: 0.5, seed: 63)
            let scale = gpu.randomUniform([1, k], dtype: .bf16, scale: 0.5, seed: 64)
            let lnOld = best { _ = gpu.quantizeActivation(modulatedLayerNorm(x, shift: shift, scale: scale, eps: 1e-6)) }
            let lnNew = best { _ = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: 1e-6, delayed: nil) }
            let lnAlone = best { _ = modulatedLayerNorm(x, shift: shift, scale: scale, eps: 1e-6) }
            print("(c) modulated LayerNorm (1, \(rows), \(k)) + quantise: old \(fmt(lnOld * 1000, 1)) us, new \(fmt(lnNew * 1000, 1)) us "
                  + "(the LayerNorm alone \(fmt(lnAlone * 1000, 1)) us)")
            let fc1Old = best { _ = gpu.quantizeActivation(gpu.fp8Linear(q, codes: wc, scale: ws, bias: bias, gelu: true)) }
            let fc1New = best { _ = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: nil) }
            print("(c) fp8 GEMM \(rows)x\(k)x\(n) +GELU + quantise: old \(fmt(fc1Old, 3)) ms, new (amax of D) \(fmt(fc1New, 3)) ms")
            let attn = gpu.randomUniform([1, rows, k], dtype: .bf16, scale: 3, seed: 65)
            let catOld = best { _ = gpu.quantizeActivation(gpu.fp8ConcatLinearGeluTanh(attn, h, codes: wc, scale: ws, bias: bias)) }
            let catNew = best { _ = gpu.fp8ConcatLinearGeluTanhE4M3(attn, q, codes: wc, scale: ws, bias: bias) }
            print("(c) [attention | fp8 GEMM +GELU] (\(rows), \(k + n)) + quantise: old \(fmt(catOld, 3)) ms (its GEMM quantises h too), "
                  + "new \(fmt(catNew, 3)) ms")
            gpu.profiling = true
            _ = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: scale, eps: 1e-6, delayed: nil)
            _ = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: nil)
            _ = gpu.fp8ConcatLinearGeluTanhE4M3(attn, q, codes: wc, scale: ws, bias: bias)
            gpu.profiling = false
            print(gpu.profileReport())
        }
        print("cuBLASLt amax of D: \(gpu.fp8AmaxUnsupported ? "refused (the amax pass runs instead)" : "in use")")

        // (d) One fp8 DiT step at full size, fp8FusedAmax off and on, alternating.
        let model = try DiTBench.randomFP8Model(FluxConfig(), on: gpu)
        for size in sizes.isEmpty ? [1024, 512] : sizes {
            let tokens = (size / 16) * (size / 16)
            let step = DiTBench.stepper(model, size: size, on: gpu)
            let (times, outs) = DiTBench.alternate(gpu, step, set: fused)
            let a = outs[false]!, b = outs[true]!
            var num = 0.0, den = 0.0
            for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
            let off = times[false]!.sorted(), on = times[true]!.sorted()
            let finite = b.allSatisfy(\.isFinite)
            ok = ok && finite
            print("(d) fp8 DiT step \(size)x\(size) (\(tokens)+512 tokens): fused amax off best \(fmt(off[0])) ms median \(fmt(off[off.count / 2])) ms; "
                  + "on best \(fmt(on[0])) ms median \(fmt(on[on.count / 2])) ms (\(fmt(on[0] / off[0], 3))x); "
                  + "output on vs off relative RMS \(fmt((num / Swift.max(den, 1e-30)).squareRoot(), 5)), finite: \(finite)")
            fused(true)
            gpu.profiling = true
            _ = step()
            gpu.profiling = false
            print(gpu.profileReport())
        }
        print("quantfuse: \(ok ? "all passed" : "FAILURES")")
        return ok
    }
}
