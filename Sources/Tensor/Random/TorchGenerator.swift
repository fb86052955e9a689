#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A random generator that reproduces PyTorch's CPU generator (`torch.Generator("cpu")`) draw for draw.
///
/// `TorchGenerator(seed: s).randn([1, 16, 128, 128])` gives the same float32 values as
/// `torch.randn((1, 16, 128, 128), generator=torch.Generator("cpu").manual_seed(s))` on x86-64 PyTorch
/// (its AVX2 `normal_fill` kernel, which AVX-512 machines also use), so a seed makes the same initial
/// latent noise as diffusers / ComfyUI on the CPU generator. Successive calls continue the stream
/// exactly as successive torch calls on one generator do.
///
/// What is reproduced (PyTorch `CPUGeneratorImpl`, `DistributionTemplates.h`, `DistributionsHelper.h`):
/// - MT19937 seeded with `seed & 0xFFFFFFFF`; one draw is one 32-bit output; 64-bit draws are
///   `(first << 32) | second`.
/// - f32 uniform: `(draw & 0xFFFFFF) * 2^-24`; f64 uniform: 53 bits of a 64-bit draw.
/// - randn with >= 16 elements: all uniforms first, then Box-Muller over each block of 16 (pairs j, j+8)
///   with Cephes log/sincos; a ragged tail redraws 16 uniforms for the last 16 slots.
/// - randn with < 16 elements: the serial double-precision Box-Muller whose second value is cached in
///   the generator for the next small call (`manualSeed` clears it).
/// - bf16 / f16: see `randnHalfBits` (f32 math per 16-block, then rounded; its own tail rule).
///
/// Not thread-safe: use one generator per thread (as torch serialises calls with a mutex).
public final class TorchGenerator {
    /// The seed PyTorch's default CPU generator starts from.
    public static let defaultSeed: UInt64 = 67_280_421_310_721

    @usableFromInline var engine: MT19937
    /// The cached second value of the serial double-precision Box-Muller (torch's `next_double_normal_sample`).
    @usableFromInline var cachedNormal: Double?
    /// The seed last passed to `manualSeed` (torch's `initial_seed()`).
    public private(set) var initialSeed: UInt64

    /// A generator seeded with `seed` (PyTorch's default seed when omitted).
    public init(seed: UInt64 = TorchGenerator.defaultSeed) {
        engine = MT19937(seed: seed)
        initialSeed = seed
        cachedNormal = nil
    }

    /// Reseeds like `torch.Generator.manual_seed(seed)`: MT19937 from `seed & 0xFFFFFFFF` and the cached
    /// normal sample cleared. Returns `self` so calls can chain.
    @discardableResult
    public func manualSeed(_ seed: UInt64) -> TorchGenerator {
        engine.reseed(seed)
        initialSeed = seed
        cachedNormal = nil
        return self
    }

    /// An independent copy of the generator in its current state (like `get_state` / `set_state`).
    public func copy() -> TorchGenerator {
        let g = TorchGenerator(seed: initialSeed)
        g.engine = engine
        g.cachedNormal = cachedNormal
        return g
    }

    // MARK: raw draws

    /// The next 32-bit draw (torch `random()`).
    @inlinable public func nextUInt32() -> UInt32 { engine.next() }

    /// The next 64-bit draw (torch `random64()`): the first 32-bit draw is the high half.
    @inlinable public func nextUInt64() -> UInt64 {
        let hi = UInt64(engine.next())
        let lo = UInt64(engine.next())
        return (hi << 32) | lo
    }

    /// A float32 uniform in [0, 1) from 24 bits of one draw (torch `uniform_real_distribution<float>`).
    @inlinable public func nextUniformFloat() -> Float {
        Float(engine.next() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    /// A double uniform in [0, 1) from 53 bits of one 64-bit draw (torch `uniform_real_distribution<double>`).
    @inlinable public func nextUniformDouble() -> Double {
        Double(nextUInt64() & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// One standard normal from torch's serial `normal_distribution<double>` (uses and refills the cache).
    public func nextNormalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextUniformDouble()
        let u2 = nextUniformDouble()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * sin(theta)
        return r * cos(theta) + 0.0
    }

    // MARK: tensors

    /// Standard normal samples like `torch.randn(shape, generator=g, dtype=dtype)`.
    /// Supported dtypes: `.f32` (default), `.bf16` and `.f16` (torch's own 16-bit kernel, see `randnHalfBits`).
    public func randn(_ shape: [Int], dtype: DType = .f32, backend: any Backend = CPUBackend.shared) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        let n = shape.reduce(1, *)
        switch dtype {
        case .f32: return Tensor(randnFloats(count: n), shape: shape, backend: backend)
        case .bf16: return Tensor.fromHost(randnHalfBits(count: n, format: .bf16), shape: shape, dtype: .bf16, backend: backend)
        case .f16: return Tensor.fromHost(randnHalfBits(count: n, format: .f16), shape: shape, dtype: .f16, backend: backend)
        default: preconditionFailure("randn supports f32, bf16 and f16, not \(dtype)")
        }
    }

    /// Uniform samples in [0, 1) like `torch.rand(shape, generator=g, dtype=dtype)` (`.f32`, `.bf16` or `.f16`).
    public func rand(_ shape: [Int], dtype: DType = .f32, backend: any Backend = CPUBackend.shared) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        let n = shape.reduce(1, *)
        switch dtype {
        case .f32: return Tensor(randFloats(count: n), shape: shape, backend: backend)
        case .bf16: return Tensor.fromHost(randHalfBits(count: n, format: .bf16), shape: shape, dtype: .bf16, backend: backend)
        case .f16: return Tensor.fromHost(randHalfBits(count: n, format: .f16), shape: shape, dtype: .f16, backend: backend)
        default: preconditionFailure("rand supports f32, bf16 and f16, not \(dtype)")
        }
    }

    /// `count` float32 uniforms in [0, 1) (the values of `torch.rand(count)`).
    public func randFloats(count n: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: n) { buf, initialized in
            for i in 0..<n { buf[i] = nextUniformFloat() }
            initialized = n
        }
    }

    /// `count` float32 standard normals (the values of `torch.randn(count)`).
    public func randnFloats(count n: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: n) { buf, initialized in
            if n > 0 { fillNormal(buf.baseAddress!, count: n) }
            initialized = n
        }
    }

    /// Fills `data[0..<count]` with float32 standard normals, continuing the stream as torch.randn does.
    public func fillNormal(_ data: UnsafeMutablePointer<Float>, count n: Int) {
        if n < 16 {
            for i in 0..<n { data[i] = Float(nextNormalDouble()) }
            return
        }
        fillUniform(data, count: n)
        var i = 0
        while i + 16 <= n {
            TorchGenerator.boxMuller16(data + i)
            i += 16
        }
        if n % 16 != 0 {
            // torch recomputes the last 16 values from 16 fresh uniforms.
            fillUniform(data + n - 16, count: 16)
            TorchGenerator.boxMuller16(data + n - 16)
        }
    }

    /// Writes `count` float32 uniforms (24-bit) to `data`.
    @usableFromInline func fillUniform(_ data: UnsafeMutablePointer<Float>, count n: Int) {
        data.withMemoryRebound(to: UInt32.self, capacity: n) { bits in
            engine.fill(bits, count: n)
            for i in 0..<n { bits[i] = (Float(bits[i] & 0xFF_FFFF) * (1.0 / 16_777_216.0)).bitPattern }
        }
    }

    /// torch's `normal_fill_16_AVX2`: Box-Muller over the pairs (j, j+8) of 16 uniforms, in place.
    @inline(__always)
    static func boxMuller16(_ d: UnsafeMutablePointer<Float>) {
        let twoPi = Float(2.0 * Double.pi)
        for j in 0..<8 {
            let u1 = 1 - d[j]
            let u2 = d[j + 8]
            let radius = (Float(-2) * CephesMath.log(u1)).squareRoot()
            let sc = CephesMath.sincos(twoPi * u2)
            // torch stores fma(n, std=1, mean=0): identical except that -0 becomes +0.
            d[j] = radius * sc.cos + 0
            d[j + 8] = radius * sc.sin + 0
        }
    }
}
