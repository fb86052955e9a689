#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Small helpers shared by the CPU matmul, linear, conv and attention kernels.
enum LinalgKernels {
    /// Calls `body(item, worker)` for every item in `0..<count`, handing items out one at a time to
    /// up to `workers` workers (numbered `0..<workers`, e.g. to pick a scratch buffer).
    /// A dynamic schedule: when one core is busy with something else (another process, say), the
    /// other worker takes over the remaining items instead of waiting at a fixed split. Meant for
    /// items of at least tens of microseconds (one mutex round-trip per item).
    static func dynamicForEach(_ count: Int, workers requested: Int,
                               _ body: (_ item: Int, _ worker: Int) -> Void) {
        let workers = min(requested, count)
        if workers <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        let next = ItemCounter()
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                while true {
                    let i = next.take()
                    if i >= count { break }
                    shared.value(i, w)
                }
            }
        }
    }

    /// A mutex-protected counter handing out 0, 1, 2, ...
    // unchecked: `value` is only touched under the pthread `mutex` (allocated at init, never reassigned).
    private final class ItemCounter: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private var value = 0
        init() { pthread_mutex_init(mutex, nil) }
        deinit { pthread_mutex_destroy(mutex); mutex.deallocate() }
        func take() -> Int {
            pthread_mutex_lock(mutex)
            defer { value += 1; pthread_mutex_unlock(mutex) }
            return value
        }
    }

    /// `x` as f32 (a converted contiguous copy for other float dtypes, `x` itself for f32).
    static func f32(_ x: Tensor) -> Tensor {
        precondition(x.dtype.isFloatingPoint, "expected a floating-point tensor, got \(x.dtype) \(x.shape)")
        return x.dtype == .f32 ? x : CPUBackend.shared.convert(x, to: .f32)
    }

    /// Typed pointer to element [0, 0, ...] of an f32 tensor.
    @inline(__always)
    static func pointer(_ x: Tensor) -> UnsafeMutablePointer<Float> {
        x.rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// Element offsets of every index of `shape` (row-major order) under `strides`.
    /// Used for batch dimensions only (one entry per matrix, never per element).
    static func offsets(shape: [Int], strides: [Int]) -> [Int] {
        let n = shape.reduce(1, *)
        var result = [Int](repeating: 0, count: n)
        if n == 0 || shape.isEmpty { return result }
        var idx = [Int](repeating: 0, count: shape.count)
        var off = 0
        for i in 0..<n {
            result[i] = off
            var d = shape.count - 1
            while d >= 0 {
                idx[d] += 1
                off += strides[d]
                if idx[d] < shape[d] { break }
                off -= strides[d] * shape[d]
                idx[d] = 0
                d -= 1
            }
        }
        return result
    }

    /// Writes `bias[0..<n]` into each of `rows` rows of `c` (row stride `ldc`), or zeros when nil.
    /// A following GEMM with beta = 1 then adds the product: one pass over the output.
    static func fillRows(_ c: UnsafeMutablePointer<Float>, rows: Int, n: Int, ldc: Int, bias: UnsafePointer<Float>?,
                         parallel: Parallel) {
        parallel.forEach(rows, grain: max(1, 32768 / max(n, 1))) { r in
            for i in r {
                let row = c + i * ldc
                if let bias { row.update(from: bias, count: n) } else { row.update(repeating: 0, count: n) }
            }
        }
    }

    /// log2(e): attention scores are scaled by this inside the GEMM so the softmax can use `exp2`.
    static let log2e: Float = 1.44269504088896341

    /// 2^t for 8 lanes with t <= 0: t = n + f with n = round(t), f in [-0.5, 0.5], 2^f from a
    /// degree-5 polynomial (least-squares fit of 2^f on Chebyshev nodes;
    /// relative error below 2e-7 in f32), 2^n from the exponent bits. t is clamped at -127,
    /// where the exponent field 2^n becomes 0: so t <= -126.5, and -inf (a masked score), give
    /// exactly 0 without a separate mask. Built from plain SIMD arithmetic and bit casts only, which
    /// stay vectorised at the default x86-64 (SSE2) target; `Float.rounded`, `fma` or `pointwiseMax`
    /// would become calls there.
    @inline(__always)
    static func exp2NonPositive8(_ t: SIMD8<Float>) -> SIMD8<Float> {
        let lo = SIMD8<Float>(repeating: -127)
        let x = t.replacing(with: lo, where: t .< lo)
        // n = round(x) through the 1.5 * 2^23 trick (adds then subtracts; exact for |x| < 2^22).
        let magic = SIMD8<Float>(repeating: 12582912.0)
        let shifted = x + magic
        let f = x - (shifted - magic)
        var p = SIMD8<Float>(repeating: 1.3218674575909972e-3)
        p = p * f + SIMD8<Float>(repeating: 9.671702980995178e-3)
        p = p * f + SIMD8<Float>(repeating: 5.550893023610115e-2)
        p = p * f + SIMD8<Float>(repeating: 2.4022237956523895e-1)
        p = p * f + SIMD8<Float>(repeating: 6.931468844413757e-1)
        p = p * f + SIMD8<Float>(repeating: 1)
        // 2^n: the integer n sits in the low mantissa bits of `shifted`; n = -127 gives bits 0 = 0.0.
        let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((n &+ SIMD8<Int32>(repeating: 127)) &<< SIMD8<Int32>(repeating: 23), to: SIMD8<Float>.self)
        return p * scale
    }

    /// Scalar 2^t for t <= 0 with the same formula (row tails).
    @inline(__always)
    static func exp2NonPositive(_ t: Float) -> Float {
        exp2NonPositive8(SIMD8<Float>(repeating: t))[0]
    }

    /// In-place softmax numerator of one row of scores given in log2 units (already multiplied by
    /// log2 e): adds `mask * log2 e` (element stride `maskStride`; nil = no mask), subtracts the row
    /// max, applies 2^x, and returns the sum. A row whose entries are all -inf becomes zeros, sum 0.
    @inline(__always)
    static func softmaxRowUnnormalised(_ s: UnsafeMutablePointer<Float>, count n: Int,
                                       mask: UnsafePointer<Float>?, maskStride: Int) -> Float {
        // Pass 1: add the mask, find the max.
        var vmax = SIMD8<Float>(repeating: -.infinity)
        var m = -Float.infinity
        var i = 0
        if let mask, maskStride == 1 {
            let l2e = SIMD8<Float>(repeating: log2e)
            while i + 8 <= n {
                let v = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                    + UnsafeRawPointer(mask + i).loadUnaligned(as: SIMD8<Float>.self) * l2e
                UnsafeMutableRawPointer(s + i).storeBytes(of: v, as: SIMD8<Float>.self)
                vmax = vmax.replacing(with: v, where: v .> vmax)
                i += 8
            }
            while i < n { s[i] += mask[i] * log2e; m = Swift.max(m, s[i]); i += 1 }
        } else {
            if let mask { for j in 0..<n { s[j] += mask[j * maskStride] * log2e } }
            while i + 8 <= n {
                let v = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                vmax = vmax.replacing(with: v, where: v .> vmax)
                i += 8
            }
            while i < n { m = Swift.max(m, s[i]); i += 1 }
        }
        for l in 0..<8 where vmax[l] > m { m = vmax[l] }
        if m == -.infinity {
            s.update(repeating: 0, count: n)
            return 0
        }
        // Pass 2: exponentiate and sum.
        let vm = SIMD8<Float>(repeating: m)
        var vsum = SIMD8<Float>(repeating: 0)
        i = 0
        while i + 8 <= n {
            let e = exp2NonPositive8(UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self) - vm)
            UnsafeMutableRawPointer(s + i).storeBytes(of: e, as: SIMD8<Float>.self)
            vsum += e
            i += 8
        }
        var sum: Float = 0
        for l in 0..<8 { sum += vsum[l] }
        while i < n { let e = exp2NonPositive(s[i] - m); s[i] = e; sum += e; i += 1 }
        return sum
    }
}
