import Foundation
import Models
import Tensor

/// cuda-check delayed: delayed e4m3 scales (`DelayedE4M3Scale`, CUDABackend+FP8Delayed.swift).
/// (a) The fc1 form at FLUX.1-dev shapes: the first call quantises exactly and calibrates; the second
/// lets cuBLASLt write e4m3 by the delayed scale. Checked: cuBLASLt's max |D| against an amax pass over
/// the bf16 GELU output, the scale = margin x amax / 448, no NaN codes, and the dequantised codes'
/// error against the bf16 output beside the exact codes' error. (b) Saturation: a state whose amax is
/// 1/100 of the real one gives codes at +-448 (not NaN) and one clip counted by the next call.
/// (c) The single block's [attention | GELU] form against the bf16 attention and GELU output.
/// (f) The modulated LayerNorm's e4m3 form: its recorded max |y|, scale, error and time.
/// (d) Times of the exact and delayed forms. (e) A full-size fp8 DiT step with delayed scales off and
/// on (alternating): times, the outputs' difference, and clips counted over the steps.
enum DelayedScaleCheck {
    static func run(sizes: [Int]) throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        let margin = gpu.configuration.fp8DelayedMargin
        print("device: \(gpu.deviceName); delayed e4m3 scales \(gpu.fp8DelayedScales ? "on" : "OFF"), margin \(margin)")
        var ok = true
        func decoded(_ q: QuantizedActivation) -> [Float] {
            let s = q.scale.floats()[0]
            return q.codes.to(.f32).floats().map { $0 * s }
        }
        func best(_ body: () -> Void) -> Double {
            body()
            return (0..<10).map { _ in gpu.time(body) }.min()!
        }

        // (a) fc1: exact, then delayed.
        let k = 3072, n = 12288
        for rows in [4608, 4096, 512] {
            var r = HostRandom(seed: UInt64(rows))
            let h = Tensor(r.normals(rows * k, scale: 1), shape: [1, rows, k], backend: gpu).to(.bf16)
            let (wc, ws) = gpu.quantizeTensorE4M3(Tensor(r.normals(n * k, scale: 1 / Float(k).squareRoot()), shape: [n, k], backend: gpu).to(.bf16))
            let bias = Tensor(r.normals(n, scale: 0.05), shape: [n], backend: gpu).to(.bf16)
            let q = gpu.quantizeActivation(h)
            let y = gpu.fp8Linear(q, codes: wc, scale: ws, bias: bias, gelu: true).floats()
            let amax = y.reduce(Float(0)) { Swift.max($0, abs($1)) }
            let d = DelayedE4M3Scale()
            let exact = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: d)
            let calibrated = d.withState { $0.calibrated }
            let delayed = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: d)
            let path = gpu.lastFP8Path
            let st = d.withState { $0.device }?.floats() ?? []
            let dv = decoded(delayed), ev = decoded(exact)
            let nan = dv.contains { !$0.isFinite }
            let gotAmax = st.first ?? -1, sd = delayed.scale.floats()[0]
            // D is rounded to bf16 after cuBLASLt takes its amax: within half a bf16 step.
            let amaxOK = abs(gotAmax - amax) <= amax / 256 * 1.001
            let scaleOK = abs(sd - margin * amax / 448) <= sd * 0.01
            let eErr = AttentionFP8Check.rms(ev, y), dErr = AttentionFP8Check.rms(dv, y)
            let pass = calibrated && amaxOK && scaleOK && !nan && dErr < 0.05 && delayed.shape == [1, rows, n] && path.contains("delayed")
            ok = ok && pass
            print("(a) fc1 \(rows)x\(k)x\(n) +GELU: \(pass ? "ok  " : "FAIL") calibrated \(calibrated); cuBLASLt max |D| \(gotAmax) vs amax pass \(amax) "
                  + "(\(amaxOK ? "match" : "MISMATCH")); scale \(sd) (margin x amax / 448 = \(margin * amax / 448)); NaN codes: \(nan); "
                  + "error vs bf16: delayed \(fmt(dErr, 4)), exact \(fmt(eErr, 4)); path: \(path)")
            if rows == 4096 {
                // (b) Saturation: the state's amax set 100x too small.
                gpu.copy(Tensor([amax / 100, 0, 0], shape: [3], backend: gpu), into: d.withState { $0.device! })
                let clipped = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: d)
                let codes = clipped.codes.to(.f32).floats()
                let top = codes.reduce(Float(0)) { Swift.max($0, abs($1)) }, nanCodes = codes.contains { !$0.isFinite }
                _ = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: d)
                let clips = gpu.delayedScaleClips(d) ?? -1
                let after = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: d)
                let recovered = AttentionFP8Check.rms(decoded(after), y)
                let sat = top == 448 && !nanCodes && clips == 1 && recovered < 0.05
                ok = ok && sat
                print("(b) saturation (scale 100x too small): \(sat ? "ok  " : "FAIL") largest code \(top), NaN codes: \(nanCodes), "
                      + "clips counted \(clips) (want 1); the call after it: error \(fmt(recovered, 4))")
            }
        }

        // (f) The modulated LayerNorm written as e4m3 by its kernel (`mod_layernorm_bf16_e4m3`).
        for (b, l) in [(1, 4608), (1, 512), (2, 333)] {
            var r = HostRandom(seed: UInt64(l) + 9)
            let x = Tensor(r.normals(b * l * k, scale: 2), shape: [b, l, k], backend: gpu).to(.bf16)
            let shift = Tensor(r.normals(b * k, scale: 0.5), shape: [b, k], backend: gpu).to(.bf16)
            let sc = Tensor(r.normals(b * k, scale: 0.5), shape: [b, k], backend: gpu).to(.bf16)
            let y = modulatedLayerNorm(x, shift: shift, scale: sc, eps: 1e-6).floats()
            let amax = y.reduce(Float(0)) { Swift.max($0, abs($1)) }
            let d = DelayedE4M3Scale()
            let exact = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: sc, eps: 1e-6, delayed: d)
            let delayed = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: sc, eps: 1e-6, delayed: d)
            let path = gpu.lastFP8Path
            let recorded = d.withState { $0.device }?.floats().first ?? -1
            let dv = decoded(delayed), sd = delayed.scale.floats()[0]
            let nan = dv.contains { !$0.isFinite }
            let dErr = AttentionFP8Check.rms(dv, y), eErr = AttentionFP8Check.rms(decoded(exact), y)
            let pass = recorded == amax && abs(sd - margin * amax / 448) <= sd * 1e-5 && !nan && dErr < eErr + 0.01
                && delayed.shape == [b, l, k] && path.contains("delayed")
            ok = ok && pass
            var timing = ""
            if l == 4608 {
                let exactTime = best { _ = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: sc, eps: 1e-6, delayed: nil) }
                let delayedTime = best { _ = gpu.modulatedLayerNormE4M3(x, shift: shift, scale: sc, eps: 1e-6, delayed: d) }
                timing = "; exact \(fmt(exactTime * 1000, 1)) us, delayed \(fmt(delayedTime * 1000, 1)) us"
            }
            print("(f) modulated LayerNorm (\(b), \(l), \(k)) as e4m3: \(pass ? "ok  " : "FAIL") max |y| recorded \(recorded) (amax \(amax)); "
                  + "scale \(sd); NaN codes: \(nan); error vs bf16: delayed \(fmt(dErr, 4)), exact \(fmt(eErr, 4))\(timing)")
        }

        // (c) The single block's [attention | GELU] matrix.
        if gpu.fp8AttentionAvailable {
            gpu.fp8Attention = true
            for (l, heads) in [(1536, 3), (4608, 24)] {
                var r = HostRandom(seed: UInt64(l) + 5)
                let (qkv, qw, kw, cos, sin) = AttentionFP8Check.singleStream(l, heads: heads, &r, on: gpu)
                let x = Tensor(r.normals(l * k, scale: 1), shape: [1, l, k], backend: gpu).to(.bf16)
                let (wc, ws) = gpu.quantizeTensorE4M3(Tensor(r.normals(n * k, scale: 1 / Float(k).squareRoot()), shape: [n, k], backend: gpu).to(.bf16))
                let bias = Tensor(r.normals(n, scale: 0.05), shape: [n], backend: gpu).to(.bf16)
                let q = gpu.quantizeActivation(x)
                func joint(_ d: DelayedE4M3Scale?) -> QuantizedActivation {
                    gpu.fp8AttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: qw, keyWeight: kw, cos: cos, sin: sin,
                                                             eps: 1e-6, q, codes: wc, scale: ws, bias: bias, delayed: d)
                }
                let d = DelayedE4M3Scale()
                let exact = joint(d), delayed = joint(d)
                let path = gpu.lastFP8Path
                let attn = gpu.qkNormRoPEAttention([qkv], heads: heads, queryWeights: [qw], keyWeights: [kw], cos: cos, sin: sin, eps: 1e-6)
                let reference = concat([attn, gpu.fp8Linear(q, codes: wc, scale: ws, bias: bias, gelu: true)], dim: 2).floats()
                let dv = decoded(delayed), ev = decoded(exact)
                let dErr = AttentionFP8Check.rms(dv, reference), eErr = AttentionFP8Check.rms(ev, reference)
                let nan = dv.contains { !$0.isFinite }
                let pass = !nan && dErr < eErr + 0.02 && delayed.shape == [1, l, heads * 128 + n] && path.contains("delayed")
                ok = ok && pass
                print("(c) single block [attention | GELU] L \(l), heads \(heads): \(pass ? "ok  " : "FAIL") error vs the bf16 matrix: delayed \(fmt(dErr, 4)), "
                      + "exact \(fmt(eErr, 4)); scales \(delayed.scale.floats()[0]) / \(exact.scale.floats()[0]); NaN codes: \(nan)")
                if l == 4608 {
                    // (d) Times.
                    let exactTime = best { _ = joint(nil) }, delayedTime = best { _ = joint(d) }
                    print("(d) single block [attention | GELU] (\(l), \(heads * 128 + n)): exact \(fmt(exactTime, 3)) ms, delayed \(fmt(delayedTime, 3)) ms")
                    let fc1Exact = best { _ = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: nil) }
                    let fc1Delayed = best { _ = gpu.fp8LinearGeluTanhE4M3(q, codes: wc, scale: ws, bias: bias, delayed: d) }
                    print("(d) fc1 \(l)x\(k)x\(n) +GELU + quantise: exact \(fmt(fc1Exact, 3)) ms, delayed \(fmt(fc1Delayed, 3)) ms")
                }
            }
        } else {
            print("(c) skipped: no fp8 attention on this device")
        }
        print("delayed scales: \(gpu.fp8DelayedUnsupported ? "FAILED (\(gpu.fp8GemmFailure))" : "in use")")

        // (e) A full-size fp8 DiT step, delayed scales off and on, alternating.
        let model = try DiTBench.randomFP8Model(FluxConfig(), on: gpu)
        func delayed(_ on: Bool) { var cf = gpu.configuration; cf.fp8DelayedScales = on; gpu.configuration = cf }
        for size in sizes.isEmpty ? [1024, 512] : sizes {
            let (times, outs) = DiTBench.alternate(gpu, DiTBench.stepper(model, size: size, on: gpu), set: delayed)
            let off = times[false]!.sorted(), on = times[true]!.sorted()
            let diff = AttentionFP8Check.rms(outs[true]!, outs[false]!)
            let clips = model.fp8DelayedScales.compactMap { gpu.delayedScaleClips($0) }
            let finite = outs[true]!.allSatisfy(\.isFinite)
            ok = ok && finite && diff < 0.05
            print("(e) fp8 DiT \(size)x\(size): delayed off best \(fmt(off[0])) ms median \(fmt(off[off.count / 2])) ms; "
                  + "on best \(fmt(on[0])) ms median \(fmt(on[on.count / 2])) ms (\(fmt(on[0] / off[0], 3))x); "
                  + "outputs differ by \(fmt(diff, 4)) relative RMS; finite \(finite); \(model.fp8DelayedScales.count) delayed scales, "
                  + "\(clips.filter { $0 > 0 }.count) clipped (\(clips.reduce(0, +)) clips); graphs: \(model.blockGraphUse)")
        }
        delayed(true)
        return ok
    }
}
