import Models
import Tensor

/// Every op the models use, on the GPU (f32 and bf16 compute) against the CPU backend, with random
/// inputs made from the same host values. Error = max |gpu - cpu| / max(1, max |cpu|); tolerances:
/// f32 1e-4 (f32 accumulation, different summation order), bf16 3e-2 (8-bit mantissa inputs and
/// intermediates, f32 accumulation). Fused Flux ops and a small Flux transformer (head size 128, so the
/// flash kernel runs) are compared too.
enum OpsCheck {
    struct Case {
        let name: String
        let run: (any Backend) -> Tensor
    }

    static func run() throws -> Bool {
        let gpus = [try CUDABackend.make(computeDType: .f32), try CUDABackend.make(computeDType: .bf16)]
        print("device: \(gpus[0].deviceName), sm_\(gpus[0].capability.0)\(gpus[0].capability.1), \(gpus[0].multiprocessors) SMs")
        var passed = 0, total = 0
        var failures: [String] = []
        for c in cases() {
            let ref = c.run(CPUBackend.shared).floats()
            var line = "  " + c.name + String(repeating: " ", count: Swift.max(1, 44 - c.name.count))
            for gpu in gpus {
                let tol: Float = gpu.computeDType == .f32 ? 1e-4 : 3e-2
                let out = c.run(gpu).floats()
                let err = out.count == ref.count ? relativeError(out, ref) : .infinity
                let ok = err <= tol
                total += 1
                if ok { passed += 1 } else { failures.append("\(c.name) [\(gpu.computeDType)] error \(err)") }
                line += " \(gpu.computeDType): \(ok ? "ok  " : "FAIL") \(String(format6(err)))"
            }
            print(line)
        }
        print("ops: \(passed)/\(total) passed")
        for f in failures { print("FAILED: \(f)") }
        return passed == total
    }

    static func format6(_ x: Float) -> String { x.isFinite ? String(Float(Int((x * 1e7).rounded())) / 1e7) : "\(x)" }

    /// An f32 tensor of normals (seeded by `seed`) on `b`.
    static func randn(_ shape: [Int], _ seed: UInt64, _ b: any Backend, scale: Float = 1) -> Tensor {
        var r = HostRandom(seed: seed)
        return Tensor(r.normals(shape.reduce(1, *), scale: scale), shape: shape, backend: b)
    }

    static func cases() -> [Case] {
        var cs: [Case] = []
        func add(_ name: String, _ f: @escaping (any Backend) -> Tensor) { cs.append(Case(name: name, run: f)) }
        for op in UnaryOp.allCases {
            let positive: Set<UnaryOp> = [.log, .sqrt, .rsqrt]
            add("unary \(op)") { b in
                let x = randn([37, 129], 1, b)
                return positive.contains(op) ? x.abs().affine(scale: 1, shift: 0.1).apply(op) : x.apply(op)
            }
        }
        add("unary on a permuted view") { b in randn([16, 24, 8], 2, b).permuted(2, 0, 1).apply(.silu) }
        for op in BinaryOp.allCases {
            add("binary \(op) broadcast") { b in
                var x = randn([4, 1, 33], 3, b), y = randn([5, 33], 4, b)
                if op == .pow { x = x.abs() + 0.5; y = y * 0.5 }
                if op == .div { y = y.abs() + 0.5 }
                switch op {
                case .add: return x + y
                case .sub: return x - y
                case .mul: return x * y
                case .div: return x / y
                case .maximum: return maximum(x, y)
                case .minimum: return minimum(x, y)
                case .pow: return x.pow(y)
                }
            }
        }
        add("binary add contiguous (vector path)") { b in randn([64, 256], 5, b).to(.bf16) + randn([64, 256], 6, b).to(.bf16) }
        add("affine") { b in randn([1000], 7, b).affine(scale: -1.5, shift: 0.25) }
        add("scalar divide") { b in randn([333], 8, b) / 3 }
        add("convert f32>bf16>f32") { b in randn([999], 9, b).to(.bf16).to(.f32) }
        add("convert f32>f16>f32") { b in randn([999], 10, b).to(.f16).to(.f32) }
        add("convert f32>i64>f32") { b in (randn([200], 11, b) * 50).to(.i64).to(.f32) }
        add("convert fp8 e4m3 round trip") { b in randn([256], 12, b).to(.f8e4m3fn).to(.f32) }
        add("contiguous of permuted view") { b in randn([3, 5, 7, 9], 13, b).permuted(3, 1, 0, 2).contiguous() }
        add("matmul 2d") { b in matmul(randn([33, 70], 14, b), randn([70, 45], 15, b)) }
        add("matmul batched, transposed b") { b in matmul(randn([3, 17, 64], 16, b), randn([3, 40, 64], 17, b).transposed(1, 2)) }
        add("matmul broadcast batch") { b in matmul(randn([2, 3, 16, 32], 18, b), randn([32, 24], 19, b)) }
        add("matmul transposed a") { b in matmul(randn([64, 24], 20, b).transposed(0, 1), randn([64, 40], 21, b)) }
        add("linear + bias") { b in linear(randn([2, 19, 96], 22, b), weight: randn([80, 96], 23, b, scale: 0.1), bias: randn([80], 24, b)) }
        add("linear bf16 weight, no bias") { b in linear(randn([7, 64], 25, b), weight: randn([48, 64], 26, b, scale: 0.1).to(.bf16)) }
        add("linearGeluTanh") { b in linearGeluTanh(randn([9, 64], 27, b), weight: randn([72, 64], 28, b, scale: 0.2), bias: randn([72], 29, b)) }
        add("linear on a row slice view") { b in
            let x = randn([10, 3, 64], 30, b).select(dim: 1, index: 1)
            return linear(x, weight: randn([32, 64], 31, b, scale: 0.1), bias: nil)
        }
        for op in ReduceOp.allCases {
            func r(_ x: Tensor, _ dims: [Int], _ keep: Bool) -> Tensor {
                switch op {
                case .sum: return x.sum(dims: dims, keepDims: keep)
                case .mean: return x.mean(dims: dims, keepDims: keep)
                case .max: return x.max(dims: dims, keepDims: keep)
                case .min: return x.min(dims: dims, keepDims: keep)
                }
            }
            add("reduce \(op) dims [1]") { b in r(randn([6, 50, 7], 32, b), [1], false) }
            add("reduce \(op) dims [0,2] keep") { b in r(randn([6, 50, 7], 33, b), [0, 2], true) }
        }
        add("softmax last") { b in softmax(randn([12, 300], 34, b) * 3, dim: -1) }
        add("softmax middle") { b in softmax(randn([4, 20, 6], 35, b), dim: 1) }
        add("layerNorm affine") { b in layerNorm(randn([20, 96], 36, b) * 2 + 1, weight: randn([96], 37, b), bias: randn([96], 38, b), eps: 1e-5) }
        add("layerNorm plain") { b in layerNorm(randn([20, 3072], 39, b), eps: 1e-6) }
        add("rmsNorm") { b in rmsNorm(randn([20, 128], 40, b) * 3, weight: randn([128], 41, b), eps: 1e-6) }
        add("groupNorm") { b in groupNorm(randn([2, 64, 9, 11], 42, b) + 0.5, groups: 32, weight: randn([64], 43, b), bias: randn([64], 44, b), eps: 1e-6) }
        add("groupNorm, each group in several chunks") { b in
            groupNorm(randn([1, 64, 128, 1100], 55, b) * 3 + 1, groups: 32, weight: randn([64], 56, b), bias: randn([64], 57, b), eps: 1e-6)
        }
        add("groupNormSiLU (fused on the GPU), several chunks") { b in
            groupNormSiLU(randn([1, 64, 128, 1100], 63, b) * 3 + 1, groups: 32, weight: randn([64], 64, b), bias: randn([64], 65, b), eps: 1e-6)
        }
        add("conv2d 3x3 pad 1, width a multiple of 8 (vectorised im2col)") { b in
            conv2d(randn([2, 8, 12, 16], 58, b), weight: randn([16, 8, 3, 3], 59, b, scale: 0.2), bias: randn([16], 60, b), padding: 1)
        }
        add("conv2d 3x3 stride 2 asym pad, output width 16") { b in
            conv2d(randn([1, 8, 20, 32], 61, b), weight: randn([12, 8, 3, 3], 62, b, scale: 0.2), bias: nil,
                   stride: (2, 2), padding: (top: 0, bottom: 1, left: 0, right: 1))
        }
        add("conv2d 3x3 pad 1") { b in conv2d(randn([2, 8, 13, 15], 45, b), weight: randn([16, 8, 3, 3], 46, b, scale: 0.2), bias: randn([16], 47, b), padding: 1) }
        add("conv2d 3x3 stride 2 asym pad") { b in
            conv2d(randn([1, 8, 16, 16], 48, b), weight: randn([12, 8, 3, 3], 49, b, scale: 0.2), bias: nil,
                   stride: (2, 2), padding: (top: 0, bottom: 1, left: 0, right: 1))
        }
        add("conv2d 3x3 in row bands (im2col capped at 4 KiB)") { b in
            // 13 output rows of 15 pixels, 36-row columns per group: 1 row per band in f32, 3 in bf16
            // (the last band shorter), so bands, groups and images all meet.
            let gpu = b as? CUDABackend
            let saved = gpu?.im2colBytes
            gpu?.im2colBytes = 4096
            defer { if let saved { gpu?.im2colBytes = saved } }
            return conv2d(randn([2, 8, 13, 15], 45, b), weight: randn([16, 4, 3, 3], 46, b, scale: 0.2), bias: randn([16], 47, b), padding: 1, groups: 2)
        }
        add("conv2d 1x1") { b in conv2d(randn([2, 32, 7, 7], 50, b), weight: randn([24, 32, 1, 1], 51, b, scale: 0.2), bias: randn([24], 52, b)) }
        add("conv2d groups 2") { b in conv2d(randn([1, 8, 9, 9], 53, b), weight: randn([6, 4, 3, 3], 54, b, scale: 0.2), bias: nil, padding: 1, groups: 2) }
        add("upsampleNearest2x") { b in upsampleNearest2x(randn([2, 3, 5, 7], 55, b)) }
        add("embedding") { b in
            embedding(randn([50, 24], 56, b), Tensor(integers: [3, 0, 49, 7, 7, 12], shape: [2, 3], backend: b))
        }
        add("concat dim 0") { b in concat([randn([2, 5], 57, b), randn([3, 5], 58, b)], dim: 0) }
        add("concat dim 2 of views") { b in concat([randn([2, 4, 3], 59, b), randn([2, 3, 4], 60, b).transposed(1, 2)], dim: 2) }
        add("attention d16 causal mask") { b in
            let l = 21
            var m = [Float](repeating: 0, count: l * l)
            for i in 0..<l { for j in (i + 1)..<Swift.max(i + 1, l) { m[i * l + j] = -.infinity } }
            let mask = Tensor(m, shape: [1, 1, l, l], backend: b)
            return scaledDotProductAttention(randn([2, 3, l, 16], 61, b), randn([2, 3, l, 16], 62, b), randn([2, 3, l, 16], 63, b), mask: mask)
        }
        add("attention d64 bias mask (T5 style)") { b in
            scaledDotProductAttention(randn([1, 4, 30, 64], 64, b), randn([1, 4, 30, 64], 65, b), randn([1, 4, 30, 64], 66, b),
                                      mask: randn([1, 4, 30, 30], 67, b), scale: 1)
        }
        add("attention d64 bias mask over 96 queries (T5 style, batched GEMMs)") { b in
            scaledDotProductAttention(randn([1, 8, 96, 64], 164, b).affine(scale: 0.3, shift: 0), randn([1, 8, 96, 64], 165, b),
                                      randn([1, 8, 96, 64], 166, b), mask: randn([1, 8, 96, 96], 167, b), scale: 1)
        }
        add("attention d128 flash, ragged lengths") { b in
            scaledDotProductAttention(randn([2, 3, 100, 128], 68, b), randn([2, 3, 77, 128], 69, b), randn([2, 3, 77, 128], 70, b))
        }
        add("attention d64 flash, long") { b in
            scaledDotProductAttention(randn([1, 2, 300, 64], 71, b) * 2, randn([1, 2, 300, 64], 72, b), randn([1, 2, 300, 64], 73, b))
        }
        add("attention d128 flash on permuted views") { b in
            let q = randn([1, 130, 2, 128], 74, b).permuted(0, 2, 1, 3)
            let k = randn([1, 130, 2, 128], 75, b).permuted(0, 2, 1, 3)
            let v = randn([1, 130, 2, 128], 76, b).permuted(0, 2, 1, 3)
            return scaledDotProductAttention(q, k, v)
        }
        add("attention d512 single head (VAE style, GEMM path)") { b in
            scaledDotProductAttention(randn([1, 1, 150, 512], 89, b, scale: 0.1), randn([1, 1, 150, 512], 90, b, scale: 0.1),
                                      randn([1, 1, 150, 512], 91, b))
        }
        add("modulatedLayerNorm") { b in
            let mods = randn([2, 3 * 96], 77, b, scale: 0.5).chunked(3, dim: -1)
            return modulatedLayerNorm(randn([2, 10, 96], 78, b), shift: mods[0], scale: mods[1], eps: 1e-6)
        }
        add("gatedResidual") { b in
            let mods = randn([2, 3 * 96], 79, b).chunked(3, dim: -1)
            return gatedResidual(randn([2, 10, 96], 80, b), randn([2, 10, 96], 81, b), gate: mods[2])
        }
        add("modulatedLayerNorm bf16 (vector path)") { b in
            let mods = randn([2, 3 * 96], 92, b, scale: 0.5).to(.bf16).chunked(3, dim: -1)
            return modulatedLayerNorm(randn([2, 10, 96], 93, b).to(.bf16), shift: mods[0], scale: mods[1], eps: 1e-6)
        }
        add("gatedResidual bf16 (vector path)") { b in
            let mods = randn([2, 3 * 96], 94, b).to(.bf16).chunked(3, dim: -1)
            return gatedResidual(randn([2, 10, 96], 95, b).to(.bf16), randn([2, 10, 96], 96, b).to(.bf16), gate: mods[2])
        }
        add("concat last dim bf16 (row copy path)") { b in
            concat([randn([4, 8, 64], 97, b).to(.bf16), randn([4, 8, 192], 98, b).to(.bf16)], dim: 2)
        }
        add("qkNormRoPE bf16 inputs (vector path)") { b in
            let h = 3, d = 128
            let t = randn([2, 4, 3 * h * d], 99, b).to(.bf16), i = randn([2, 6, 3 * h * d], 100, b).to(.bf16)
            let ang = randn([10, d / 2], 101, b)
            let (q, k, v) = qkNormRoPE([t, i], heads: h, queryWeights: [randn([d], 102, b).to(.bf16), randn([d], 103, b).to(.bf16)],
                                       keyWeights: [randn([d], 104, b).to(.bf16), randn([d], 105, b).to(.bf16)],
                                       cos: ang.cos(), sin: ang.sin(), eps: 1e-6)
            return concat([q.to(.f32), k.to(.f32), v.to(.f32)], dim: 0)
        }
        add("concatLinearGeluTanh") { b in
            concatLinearGeluTanh(randn([2, 5, 32], 106, b), randn([2, 5, 64], 107, b),
                                 weight: randn([48, 64], 108, b, scale: 0.2), bias: randn([48], 109, b))
        }
        add("qkNormRoPE two streams") { b in
            let h = 2, d = 128
            let t = randn([1, 5, 3 * h * d], 82, b), i = randn([1, 9, 3 * h * d], 83, b)
            let ang = randn([14, d / 2], 84, b)
            let (q, k, v) = qkNormRoPE([t, i], heads: h, queryWeights: [randn([d], 85, b), randn([d], 86, b)],
                                       keyWeights: [randn([d], 87, b), randn([d], 88, b)], cos: ang.cos(), sin: ang.sin(), eps: 1e-6)
            return concat([q, k, v], dim: 0)
        }
        add("Flux transformer (2x128 heads, 1+1 blocks)") { b in
            smallFlux(b)
        }
        return cs
    }

    /// A small Flux DiT with random weights (made on the CPU, moved to `b`), one forward pass.
    static func smallFlux(_ b: any Backend) -> Tensor {
        var c = FluxConfig()
        c.numAttentionHeads = 2
        c.attentionHeadDim = 128
        c.numLayers = 1
        c.numSingleLayers = 1
        c.inChannels = 16
        c.jointAttentionDim = 64
        c.pooledProjectionDim = 32
        var seed: UInt64 = 1000
        var weights: [String: Tensor] = [:]
        // Sorted: a dictionary's iteration order differs between instances.
        for (name, shape) in FluxRandomWeights.shapes(c).sorted(by: { $0.key < $1.key }) {
            seed += 1
            let scale: Float = shape.count == 1 ? (name.hasSuffix(".scale") ? 1 : 0.02) : 1 / Float(shape[1]).squareRoot()
            weights[name] = randn(shape, seed &* 7919, CPUBackend.shared, scale: scale)
        }
        let gpu = b as? CUDABackend
        let model = try! FluxTransformer(config: c, weights: DictionaryWeights(weights), computeDType: gpu?.computeDType, backend: b)
        let img = randn([1, 64, 16], 2001, CPUBackend.shared)
        let txt = randn([1, 24, 64], 2002, CPUBackend.shared)
        let pooled = randn([1, 32], 2003, CPUBackend.shared)
        return model(img: img, height: 8, width: 8, txt: txt, pooled: pooled, timestep: [0.7], guidance: [3.5])
    }
}
