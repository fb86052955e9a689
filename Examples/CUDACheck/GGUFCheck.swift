import Quant
import Tensor

/// GGUF blocks on the GPU (issue 22): `dequantizeBlocks` against Quant's CPU decoder (gguf-py's
/// arithmetic) for every format, bit for bit in f32 and after the one bf16 rounding; the per-tensor
/// e4m3 expansion against the CPU's e4m3 codec; then, at the FLUX.1-dev DiT's GEMM shapes (4608 rows
/// = 1024x1024 + 512 text tokens), the time of a Linear whose weight stays in blocks (expand + GEMM)
/// against the same Linear with a resident bf16 or fp8 weight.
enum GGUFCheck {
    static let formats: [(BlockQuantFormat, GGMLType)] = [
        (.q8_0, .q8_0), (.q4_0, .q4_0), (.q4_1, .q4_1), (.q5_0, .q5_0), (.q5_1, .q5_1),
        (.q2_K, .q2_K), (.q3_K, .q3_K), (.q4_K, .q4_K), (.q5_K, .q5_K), (.q6_K, .q6_K),
    ]

    /// Blocks of `type` for a (rows, columns) matrix: the legacy types quantised from normals by
    /// Quant; the k-quants random bytes with their f16 scales set to small positive values (any
    /// bit pattern is a valid k-quant block otherwise).
    static func blocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) throws -> [UInt8] {
        var rng = HostRandom(seed: seed)
        let count = rows * columns
        var bytes = [UInt8](repeating: 0, count: count / type.blockSize * type.typeSize)
        if GGMLType.quantizable.contains(type) {
            let values = rng.normals(count, scale: 0.05)
            try values.withUnsafeBufferPointer { v in
                try bytes.withUnsafeMutableBytes { try GGUFQuantize.quantize(type, from: v.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            return bytes
        }
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let halves: [Int]
        switch type {
        case .q2_K: halves = [80, 82]
        case .q3_K: halves = [108]
        case .q4_K, .q5_K: halves = [0, 2]
        case .q6_K: halves = [208]
        default: halves = []
        }
        for b in 0..<(count / type.blockSize) {
            for h in halves {
                let bits = Half.bits(from: 0.001 + 0.002 * rng.uniform())
                bytes[b * type.typeSize + h] = UInt8(bits & 0xFF)
                bytes[b * type.typeSize + h + 1] = UInt8(bits >> 8)
            }
        }
        return bytes
    }

    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .bf16)
        print("device: \(gpu.deviceName), sm_\(gpu.capability.0)\(gpu.capability.1)")
        var ok = true
        for (format, type) in formats {
            let rows = 96, columns = 1024
            let bytes = try blocks(type, rows: rows, columns: columns, seed: UInt64(type.rawValue))
            var cpu = [Float](repeating: 0, count: rows * columns)
            try bytes.withUnsafeBytes { b in
                try cpu.withUnsafeMutableBufferPointer { try GGUFDequantize.dequantize(type, from: b.baseAddress!, count: rows * columns, into: $0.baseAddress!) }
            }
            let onGPU = Tensor.fromHost(bytes, shape: [bytes.count], dtype: .u8, backend: gpu)
            let f32 = gpu.dequantizeBlocks(onGPU, format: format, rows: rows, columns: columns, dtype: .f32).floats()
            let bf16 = gpu.dequantizeBlocks(onGPU, format: format, rows: rows, columns: columns, dtype: .bf16).floats()
            let expectedBF16 = Tensor(cpu, shape: [rows, columns]).to(.bf16).floats()
            let f32Diff = zip(f32, cpu).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            let bf16Diff = zip(bf16, expectedBF16).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            // e4m3: the same scale and code as the CPU's codec (values at the maximum may round to 448).
            let (codes, scale) = gpu.blocksToE4M3(onGPU, format: format, rows: rows, columns: columns, scale: nil)
            let amax = cpu.reduce(Float(0)) { Swift.max($0, abs($1)) }
            let s = amax > 0 ? amax / 448 : 1, inv = 1 / s
            let expected = Tensor(cpu.map { $0 * inv }, shape: [rows, columns]).to(.f8e4m3fn).floats()
            let got = codes.floats()
            let codeDiff = (0..<got.count).filter { got[$0] != expected[$0] && abs(cpu[$0]) != amax }.count
            let again = gpu.blocksToE4M3(onGPU, format: format, rows: rows, columns: columns, scale: scale).codes.floats()
            let keptDiff = zip(again, got).filter { $0.0 != $0.1 }.count
            let scaleOK = scale.floats()[0] == s && keptDiff == 0
            // Per row: each row's own amax / 448 and codes, as the per-row CPU codec makes them.
            let (rowCodes, rowScale) = gpu.blocksToE4M3(onGPU, format: format, rows: rows, columns: columns, scale: nil, perRow: true)
            var rowDiff = 0, rowScaleDiff = 0
            let gotRows = rowCodes.floats(), gotScales = rowScale.floats()
            for r in 0..<rows {
                let row = Array(cpu[(r * columns)..<((r + 1) * columns)])
                let m = row.reduce(Float(0)) { Swift.max($0, abs($1)) }
                let rs = m > 0 ? m / 448 : 1, rinv = 1 / rs
                if gotScales[r] != rs { rowScaleDiff += 1 }
                let want = Tensor(row.map { $0 * rinv }, shape: [columns]).to(.f8e4m3fn).floats()
                rowDiff += (0..<columns).filter { gotRows[r * columns + $0] != want[$0] && abs(row[$0]) != m }.count
            }
            let rowAgain = gpu.blocksToE4M3(onGPU, format: format, rows: rows, columns: columns, scale: rowScale, perRow: true).codes.floats()
            let rowKeptDiff = zip(rowAgain, gotRows).filter { $0.0 != $0.1 }.count
            let rowOK = rowDiff == 0 && rowScaleDiff == 0 && rowKeptDiff == 0
            let pass = f32Diff == 0 && bf16Diff == 0 && codeDiff == 0 && scaleOK && rowOK
            ok = ok && pass
            print("\(format) (\(rows)x\(columns)): f32 differing \(f32Diff), bf16 differing \(bf16Diff), e4m3 codes differing \(codeDiff), scale \(scaleOK ? "equal" : "DIFFERS"), per-row codes differing \(rowDiff), row scales differing \(rowScaleDiff + rowKeptDiff) \(pass ? "ok" : "FAIL")")
        }
        try bench(gpu)
        return ok
    }

    /// Expand-and-multiply against resident bf16 / fp8 weights at the DiT's shapes.
    static func bench(_ gpu: CUDABackend) throws {
        gpu.allowFP8TensorCores = true
        for (n, k) in [(9216, 3072), (21504, 3072), (3072, 15360), (12288, 3072), (3072, 12288)] {
            let x = gpu.randomUniform([4608, k], dtype: .bf16, scale: 1, seed: 1)
            let w = gpu.randomUniform([n, k], dtype: .bf16, scale: 1 / Float(k).squareRoot(), seed: 2)
            let (wc, ws) = gpu.quantizeTensorE4M3(w)
            func best(_ body: () -> Void) -> Double { body(); return (0..<5).map { _ in gpu.time(body) }.min()! }
            let tBF16 = best { _ = linear(x, weight: w, bias: nil) }
            let tFP8 = best { _ = gpu.fp8Linear(x, codes: wc, scale: ws, bias: nil, gelu: false, into: nil, ldc: nil) }
            var line = "\(n)x\(k) (x 4608 rows): bf16 GEMM \(fmt(tBF16, 3)) ms, fp8 GEMM \(fmt(tFP8, 3)) ms"
            for (format, type) in [(BlockQuantFormat.q8_0, GGMLType.q8_0), (.q4_K, .q4_K), (.q6_K, .q6_K)] {
                let bytes = try blocks(type, rows: n, columns: k, seed: 3)
                let blk = Tensor.fromHost(bytes, shape: [bytes.count], dtype: .u8, backend: gpu)
                let tExpand = best { _ = gpu.dequantizeBlocks(blk, format: format, rows: n, columns: k, dtype: .bf16) }
                let tBF16Path = best {
                    let dense = gpu.dequantizeBlocks(blk, format: format, rows: n, columns: k, dtype: .bf16)
                    _ = linear(x, weight: dense, bias: nil)
                }
                let tFP8Path = best {
                    let (c, s) = gpu.blocksToE4M3(blk, format: format, rows: n, columns: k, scale: nil)
                    _ = gpu.fp8Linear(x, codes: c, scale: s, bias: nil, gelu: false, into: nil, ldc: nil)
                }
                let (_, kept) = gpu.blocksToE4M3(blk, format: format, rows: n, columns: k, scale: nil)
                let tKept = best {
                    let (c, s) = gpu.blocksToE4M3(blk, format: format, rows: n, columns: k, scale: kept)
                    _ = gpu.fp8Linear(x, codes: c, scale: s, bias: nil, gelu: false, into: nil, ldc: nil)
                }
                let (_, keptRows) = gpu.blocksToE4M3(blk, format: format, rows: n, columns: k, scale: nil, perRow: true)
                let tRows = best {
                    let (c, s) = gpu.blocksToE4M3(blk, format: format, rows: n, columns: k, scale: keptRows, perRow: true)
                    _ = gpu.fp8Linear(x, codes: c, scale: s, bias: nil, gelu: false, into: nil, ldc: nil)
                }
                let gbs = Double(bytes.count + n * k * 2) / tExpand / 1e6
                line += "; \(format): expand \(fmt(tExpand, 3)) ms (\(fmt(gbs, 0)) GB/s), +bf16 GEMM \(fmt(tBF16Path, 3)) (\(fmt(tBF16Path / tFP8, 2))x fp8), e4m3 +fp8 GEMM \(fmt(tFP8Path, 3)) (\(fmt(tFP8Path / tFP8, 2))x fp8), with the scale kept \(fmt(tKept, 3)) (\(fmt(tKept / tFP8, 2))x), per-row e4m3 \(fmt(tRows, 3)) (\(fmt(tRows / tFP8, 2))x)"
            }
            print(line)
        }
    }
}
