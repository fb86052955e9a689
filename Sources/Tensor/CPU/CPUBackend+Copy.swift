/// Strided-to-contiguous copies and dtype conversion.
extension CPUBackend {
    public func contiguous(_ x: Tensor) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("contiguous", profileStart) }
        let out = empty(x.shape, x.dtype)
        switch x.dtype.byteSize {
        case 1: stridedCopy(x, into: out.rawPointer, as: UInt8.self)
        case 2: stridedCopy(x, into: out.rawPointer, as: UInt16.self)
        case 4: stridedCopy(x, into: out.rawPointer, as: UInt32.self)
        default: stridedCopy(x, into: out.rawPointer, as: UInt64.self)
        }
        return out
    }

    /// Copies the elements of any strided view of `x` in row-major order into `dst`.
    @inlinable
    func stridedCopy<T>(_ x: Tensor, into dst: UnsafeMutableRawPointer, as: T.Type) {
        let n = x.count
        if n == 0 { return }
        let src = x.storage.pointer.assumingMemoryBound(to: T.self) + x.offset
        let out = dst.assumingMemoryBound(to: T.self)
        // Merge the shape into rows: inner dim handled by a tight loop, outer dims by a counter.
        let shape = x.shape.isEmpty ? [1] : x.shape
        let strides = x.strides.isEmpty ? [1] : x.strides
        let inner = shape[shape.count - 1], innerStride = strides[strides.count - 1]
        let rows = n / inner
        let outerShape = Array(shape.dropLast()), outerStrides = Array(strides.dropLast())
        parallel.forEach(rows, grain: max(1, 16384 / max(inner, 1))) { range in
            var idx = [Int](repeating: 0, count: outerShape.count)
            // Unravel the first row index of this chunk.
            var r = range.lowerBound
            for d in stride(from: outerShape.count - 1, through: 0, by: -1) {
                idx[d] = r % outerShape[d]
                r /= outerShape[d]
            }
            var base = 0
            for d in 0..<outerShape.count { base += idx[d] * outerStrides[d] }
            for row in range {
                let o = out + row * inner
                let s = src + base
                if innerStride == 1 {
                    o.update(from: s, count: inner)
                } else {
                    for i in 0..<inner { o[i] = s[i * innerStride] }
                }
                // Advance the outer counter.
                var d = outerShape.count - 1
                while d >= 0 {
                    idx[d] += 1
                    base += outerStrides[d]
                    if idx[d] < outerShape[d] { break }
                    base -= outerStrides[d] * outerShape[d]
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }

    public func convert(_ x: Tensor, to dtype: DType) -> Tensor {
        let profileStart = profile.start(); defer { profile.stop("convert", profileStart) }
        let src = x.contiguous()
        let out = empty(x.shape, dtype)
        let n = x.count
        if src.dtype.isFloatingPoint && dtype.isFloatingPoint {
            let tmpNeeded = src.dtype != .f32 && dtype != .f32
            parallel.forEach(n, grain: 1 << 15) { r in
                if tmpNeeded {
                    var tmp = [Float](repeating: 0, count: r.count)
                    tmp.withUnsafeMutableBufferPointer { t in
                        loadFloats(src, range: r, into: t.baseAddress!)
                        storeFloats(t.baseAddress!, range: r, into: out)
                    }
                } else if dtype == .f32 {
                    loadFloats(src, range: r, into: out.rawPointer.assumingMemoryBound(to: Float.self) + r.lowerBound)
                } else {
                    storeFloats(src.rawPointer.assumingMemoryBound(to: Float.self) + r.lowerBound, range: r, into: out)
                }
            }
        } else {
            // Integer and bool conversions go through Double (exact for every value these models use).
            for i in 0..<n { storeScalar(loadScalar(src, i), i, out) }
        }
        return out
    }

    /// Decodes elements `range` of contiguous float tensor `x` into `dst[0..<range.count]`.
    @inlinable
    func loadFloats(_ x: Tensor, range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let p = x.rawPointer
        let lo = range.lowerBound
        switch x.dtype {
        case .f32: dst.update(from: p.assumingMemoryBound(to: Float.self) + lo, count: range.count)
        case .bf16:
            let s = p.assumingMemoryBound(to: UInt16.self) + lo
            for i in 0..<range.count { dst[i] = BFloat16.float(fromBits: s[i]) }
        case .f16:
            let s = p.assumingMemoryBound(to: UInt16.self) + lo
            for i in 0..<range.count { dst[i] = Half.float(fromBits: s[i]) }
        case .f8e4m3fn:
            let s = p.assumingMemoryBound(to: UInt8.self) + lo
            Float8E4M3FN.decode(s, into: dst, count: range.count)
        case .f8e5m2:
            let s = p.assumingMemoryBound(to: UInt8.self) + lo
            Float8E5M2.decode(s, into: dst, count: range.count)
        default: preconditionFailure("loadFloats on \(x.dtype)")
        }
    }

    /// Encodes `src[0..<range.count]` into elements `range` of contiguous float tensor `x`.
    @inlinable
    func storeFloats(_ src: UnsafePointer<Float>, range: Range<Int>, into x: Tensor) {
        let p = x.rawPointer
        let lo = range.lowerBound
        switch x.dtype {
        case .f32: (p.assumingMemoryBound(to: Float.self) + lo).update(from: src, count: range.count)
        case .bf16:
            let d = p.assumingMemoryBound(to: UInt16.self) + lo
            for i in 0..<range.count { d[i] = BFloat16.bits(from: src[i]) }
        case .f16:
            let d = p.assumingMemoryBound(to: UInt16.self) + lo
            for i in 0..<range.count { d[i] = Half.bits(from: src[i]) }
        case .f8e4m3fn:
            let d = p.assumingMemoryBound(to: UInt8.self) + lo
            Float8E4M3FN.encode(src, into: d, count: range.count)
        case .f8e5m2:
            let d = p.assumingMemoryBound(to: UInt8.self) + lo
            Float8E5M2.encode(src, into: d, count: range.count)
        default: preconditionFailure("storeFloats on \(x.dtype)")
        }
    }

    private func loadScalar(_ x: Tensor, _ i: Int) -> Double {
        let p = x.rawPointer
        switch x.dtype {
        case .i8: return Double(p.load(fromByteOffset: i, as: Int8.self))
        case .u8: return Double(p.load(fromByteOffset: i, as: UInt8.self))
        case .bool: return p.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0
        case .i32: return Double(p.load(fromByteOffset: i * 4, as: Int32.self))
        case .i64: return Double(p.load(fromByteOffset: i * 8, as: Int64.self))
        default:
            var f: Float = 0
            loadFloats(x, range: i..<(i + 1), into: &f)
            return Double(f)
        }
    }

    private func storeScalar(_ v: Double, _ i: Int, _ x: Tensor) {
        let p = x.rawPointer
        func int<T: FixedWidthInteger>(_: T.Type) -> T {
            v.isNaN ? 0 : T(exactly: v.rounded(.towardZero)) ?? (v < 0 ? T.min : T.max)
        }
        switch x.dtype {
        case .i8: p.storeBytes(of: int(Int8.self), toByteOffset: i, as: Int8.self)
        case .u8: p.storeBytes(of: int(UInt8.self), toByteOffset: i, as: UInt8.self)
        case .bool: p.storeBytes(of: v != 0 ? 1 : 0, toByteOffset: i, as: UInt8.self)
        case .i32: p.storeBytes(of: int(Int32.self), toByteOffset: i * 4, as: Int32.self)
        case .i64: p.storeBytes(of: int(Int64.self), toByteOffset: i * 8, as: Int64.self)
        default:
            var f = Float(v)
            storeFloats(&f, range: i..<(i + 1), into: x)
        }
    }
}
