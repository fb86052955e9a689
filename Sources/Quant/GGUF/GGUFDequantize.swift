import Tensor

/// ggml blocks -> f32, bit-identical to `gguf.quants.dequantize` (numpy) for every type in
/// `GGMLType.dequantizable`: the same products and sums in the same order, each rounded to f32
/// (`d * q`, then `- m` or `+ m`: no fused multiply-add). Scales are IEEE halves read as ggml does.
///
/// The legacy 32-element types live here, the 256-element k-quants in GGUFDequantize+KQuants.swift.
public enum GGUFDequantize {
    /// Dequantizes `count` elements of `type` (a whole number of blocks) stored at `src` into `dst`.
    /// Large tensors are split by blocks across `CPUBackend.shared.parallel`'s threads.
    public static func dequantize(_ type: GGMLType, from src: UnsafeRawPointer, count: Int,
                                  into dst: UnsafeMutablePointer<Float>) throws {
        guard type.isDequantizable else {
            throw TensorError.invalidArgument("dequantizing \(type) is not supported (supported: \(GGMLType.dequantizable.map(\.name).joined(separator: ", ")))")
        }
        guard count % type.blockSize == 0 else {
            throw TensorError.invalidArgument("\(count) elements are not whole \(type) blocks of \(type.blockSize)")
        }
        let blocks = count / type.blockSize
        let sendableSrc = Int(bitPattern: src), sendableDst = Int(bitPattern: dst)
        // About 64k elements per task: enough work to pay for a thread hand-off.
        CPUBackend.shared.parallel.forEach(blocks, grain: Swift.max(1, 65536 / type.blockSize)) { range in
            dequantizeBlocks(type, from: UnsafeRawPointer(bitPattern: sendableSrc)!, blocks: range,
                             into: UnsafeMutablePointer<Float>(bitPattern: sendableDst)!)
        }
    }

    /// Dequantizes blocks `blocks` (block indices) of a `type` tensor at `src` into `dst` (element
    /// `blocks.lowerBound * blockSize` goes to `dst[blocks.lowerBound * blockSize]`), on this thread.
    public static func dequantizeBlocks(_ type: GGMLType, from src: UnsafeRawPointer, blocks: Range<Int>,
                                        into dst: UnsafeMutablePointer<Float>) {
        let ts = type.typeSize, bs = type.blockSize
        // Plain types: one element per "block", a tight loop over the whole range.
        switch type {
        case .f32:
            UnsafeMutableRawPointer(dst + blocks.lowerBound).copyMemory(from: src + blocks.lowerBound * 4, byteCount: blocks.count * 4)
            return
        case .f16:
            for i in blocks { dst[i] = Half.float(fromBits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            return
        case .bf16:
            for i in blocks { dst[i] = BFloat16.float(fromBits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            return
        default: break
        }
        for b in blocks {
            let p = src + b * ts, y = dst + b * bs
            switch type {
            case .q8_0: q8_0(p, y)
            case .q4_0: q4_0(p, y)
            case .q4_1: q4_1(p, y)
            case .q5_0: q5_0(p, y)
            case .q5_1: q5_1(p, y)
            case .q2_K: q2_K(p, y)
            case .q3_K: q3_K(p, y)
            case .q4_K: q4_K(p, y)
            case .q5_K: q5_K(p, y)
            case .q6_K: q6_K(p, y)
            default: preconditionFailure("\(type) is not dequantizable")
            }
        }
    }

    /// The IEEE half at byte `offset` of `p`, as f32.
    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Half.float(fromBits: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Q8_0 (34 bytes): f16 d, 32 int8 q. y = q * d.
    @inline(__always) static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 { y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    /// Q4_0 (18 bytes): f16 d, 16 bytes of nibbles (element j low nibble of byte j, element j+16 the
    /// high one). y = d * (q - 8).
    @inline(__always) static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let b = p.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = d * Float(Int(b & 0x0F) - 8)
            y[j + 16] = d * Float(Int(b >> 4) - 8)
        }
    }

    /// Q4_1 (20 bytes): f16 d, f16 m, 16 bytes of nibbles. y = d * q + m.
    @inline(__always) static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        for j in 0..<16 {
            let b = p.load(fromByteOffset: 4 + j, as: UInt8.self)
            y[j] = d * Float(b & 0x0F) + m
            y[j + 16] = d * Float(b >> 4) + m
        }
    }

    /// Q5_0 (22 bytes): f16 d, u32 of fifth bits (bit i for element i), 16 bytes of nibbles.
    /// y = d * (q - 16).
    @inline(__always) static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let b = p.load(fromByteOffset: 6 + j, as: UInt8.self)
            let lo = Int(b & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(b >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo - 16)
            y[j + 16] = d * Float(hi - 16)
        }
    }

    /// Q5_1 (24 bytes): f16 d, f16 m, u32 of fifth bits, 16 bytes of nibbles. y = d * q + m.
    @inline(__always) static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let b = p.load(fromByteOffset: 8 + j, as: UInt8.self)
            let lo = UInt32(b & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
            let hi = UInt32(b >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo) + m
            y[j + 16] = d * Float(hi) + m
        }
    }
}
