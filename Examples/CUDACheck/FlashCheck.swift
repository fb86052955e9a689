import Tensor

/// The head-size-128 flash kernels (both Hopper wgmma versions and mma.sync) against the CPU on random bf16
/// inputs (ragged lengths, one query, long keys, permuted views), then two triage cases that isolate
/// each half of the kernel: Q = 0 (uniform weights, so the output is the mean of V: checks P V alone)
/// and one-hot V (V[key][d] = d == key, so output column d is the softmax weight of key d: checks
/// Q K^T and the softmax alone). Then both kernels timed at Flux's joint lengths. Tolerance 3e-2, as
/// for every bf16 op in `ops`.
enum FlashCheck {
    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        print("device: \(gpu.deviceName), Hopper flash kernel compiled: \(gpu.hopperFlashAvailable)")
        let chosen = gpu.flashKernel
        let kernels = CUDABackend.FlashKernel.allCases.filter { $0 == .mma || gpu.hopperFlashAvailable }
        var passed: [CUDABackend.FlashKernel: Bool] = [:]
        func host(_ shape: [Int], _ seed: UInt64, scale: Float = 1) -> [Float] {
            var r = HostRandom(seed: seed)
            // rounded to bf16 so the CPU reference sees exactly the GPU's inputs
            return Tensor(r.normals(shape.reduce(1, *), scale: scale), shape: shape).to(.bf16).floats()
        }
        func check(_ name: String, _ q: [Float], _ k: [Float], _ v: [Float], _ qs: [Int], _ ks: [Int], permute: Bool = false) {
            func make(_ x: [Float], _ s: [Int], _ b: any Backend) -> Tensor {
                if !permute { return Tensor(x, shape: s, backend: b) }
                // stored (B, L, H, D), viewed as (B, H, L, D)
                return Tensor(x, shape: [s[0], s[2], s[1], s[3]], backend: b).permuted(0, 2, 1, 3)
            }
            let ref = scaledDotProductAttention(make(q, qs, CPUBackend.shared), make(k, ks, CPUBackend.shared), make(v, ks, CPUBackend.shared)).floats()
            var line = "  " + name + String(repeating: " ", count: Swift.max(1, 46 - name.count))
            for kernel in kernels {
                gpu.flashKernel = kernel
                let out = scaledDotProductAttention(make(q, qs, gpu), make(k, ks, gpu), make(v, ks, gpu)).floats()
                let err = relativeError(out, ref)
                let pass = err <= 3e-2
                // a kernel that fell back to another (no tensor maps, say) has not passed
                passed[kernel, default: true] = passed[kernel, default: true] && pass && gpu.lastFlashKernel == kernel
                let ran = gpu.lastFlashKernel.map { $0 == kernel ? "" : " (ran \($0))" } ?? ""
                line += " \(kernel)\(ran): \(pass ? "ok  " : "FAIL") \(err)"
            }
            gpu.flashKernel = chosen
            print(line)
        }
        standardCases(shapes, host: { host($0, $1, scale: $2) }, check: { check($0, $1, $2, $3, $4, $5, permute: $6) })
        // Speed at the joint sequence lengths of 512x512 and 1024x1024 (512 text tokens).
        for l in [1536, 4608] {
            let q = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 7)
            let k = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 8)
            let v = gpu.randomUniform([1, 24, l, 128], dtype: .bf16, scale: 1, seed: 9)
            let flops = 4.0 * Double(l) * Double(l) * 128 * 24
            var line = "  time (1, 24, \(l), 128):"
            for kernel in kernels {
                gpu.flashKernel = kernel
                _ = scaledDotProductAttention(q, k, v)
                let ms = (0..<10).map { _ in gpu.time { _ = scaledDotProductAttention(q, k, v) } }.min()!
                let ran = gpu.lastFlashKernel.map { $0 == kernel ? "" : " (ran \($0))" } ?? ""
                line += " \(kernel)\(ran) \(fmt(ms, 3)) ms (\(fmt(flops / ms / 1e9, 1)) TFLOP/s)"
            }
            gpu.flashKernel = chosen
            print(line)
        }
        for kernel in kernels { print("flash \(kernel): \(passed[kernel] == true ? "passed" : "FAILED")") }
        let ok = kernels.allSatisfy { passed[$0] == true }
        print("flash: \(ok ? "all passed" : "FAILURES")")
        return ok
    }

    /// The (B, H, Lq, Lk) shapes of the random cases: ragged lengths, one query, long keys.
    static let shapes = [(1, 1, 64, 64), (1, 2, 100, 77), (2, 3, 130, 200), (1, 2, 1, 300), (1, 4, 257, 1000), (1, 2, 333, 4608)]

    /// The inputs every flash check runs, head size 128: random q/k/v at `shapes`, a permuted view, and
    /// the two triage cases (Q = 0: the output is the mean of V; one-hot V: the output is the softmax
    /// weights). `host(shape, seed, scale)` makes bf16-exact values; `check(name, q, k, v, qShape,
    /// kShape, permuted)` runs one case.
    static func standardCases(_ shapes: [(Int, Int, Int, Int)], host: ([Int], UInt64, Float) -> [Float],
                              check: (String, [Float], [Float], [Float], [Int], [Int], Bool) -> Void) {
        for (i, s) in shapes.enumerated() {
            let qs = [s.0, s.1, s.2, 128], ks = [s.0, s.1, s.3, 128]
            let seed = UInt64(10 * i)
            check("random \(qs) x \(ks)", host(qs, seed + 1, 1), host(ks, seed + 2, 1), host(ks, seed + 3, 1), qs, ks, false)
        }
        let p = [1, 3, 130, 128]
        check("random on permuted views \(p)", host(p, 91, 1), host(p, 92, 1), host(p, 93, 1), p, p, true)
        let qs = [1, 1, 64, 128], ks = [1, 1, 64, 128]
        check("triage: Q = 0 (output = mean of V)", [Float](repeating: 0, count: 64 * 128), host(ks, 95, 1), host(ks, 96, 1), qs, ks, false)
        var onehot = [Float](repeating: 0, count: 64 * 128)
        for key in 0..<64 { onehot[key * 128 + key] = 1 }
        check("triage: one-hot V (output = softmax weights)", host(qs, 97, 2), host(ks, 98, 1), onehot, qs, ks, false)
    }
}
