#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// A small seeded generator for host test data (splitmix64 -> Box-Muller normals).
struct HostRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u1 = Swift.max(uniform(), 1e-7), u2 = uniform()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }
    mutating func normals(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in normal() * scale } }
}

/// Wall-clock seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func fmt(_ x: Double, _ digits: Int = 2) -> String {
    let p = pow(10.0, Double(digits))
    return String(Double((x * p).rounded()) / p)
}

/// max |a - b| / max(1, max |b|) over the elements.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var d: Float = 0, m: Float = 0
    for (x, y) in zip(a, b) {
        if x.isNaN != y.isNaN { return .infinity }
        if x.isNaN { continue }
        if x.isInfinite || y.isInfinite { if x != y { return .infinity }; continue }
        d = Swift.max(d, Swift.abs(x - y))
        m = Swift.max(m, Swift.abs(y))
    }
    return d / Swift.max(1, m)
}

/// Peak signal-to-noise ratio of two 8-bit images.
func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count)
    var se = 0.0
    for (x, y) in zip(a, b) { let d = Double(x) - Double(y); se += d * d }
    let mse = se / Double(Swift.max(a.count, 1))
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}

/// Compiles the kernel module with NVRTC only (works without a GPU when libnvrtc is found).
enum KernelCompileCheck {
    static func run() -> Bool {
        guard let nvrtc = NVRTC.load() else {
            print("libnvrtc not found (set MAJICFLUX_CUDA_LIB_DIR); skipped")
            return true
        }
        do {
            let ptx = try nvrtc.compilePTX(CUDAKernelSource.all, name: "majicflux.cu", arch: "compute_90")
            print("kernels compiled: \(ptx.count) bytes of PTX")
            // sm_90a machine code: the Hopper-only kernels (wgmma, TMA, fp8 attention) exist only here,
            // and NVRTC's assembler checks their inline PTX (no GPU needed).
            let cubin = try nvrtc.compileCUBIN(CUDAKernelSource.all, name: "majicflux.cu", arch: "sm_90a")
            let bytes = cubin.map { UInt8(bitPattern: $0) }
            let hopper = ["flash_wg3_d128", "flash_wg3_fp8_d128", "attn_quant_e4m3"].filter { name in
                let n = Array(name.utf8)
                return bytes.indices.dropLast(n.count).contains { i in bytes[i] == n[0] && Array(bytes[i..<i + n.count]) == n }
            }
            print("kernels compiled for sm_90a: \(cubin.count) bytes of CUBIN, holding \(hopper.joined(separator: ", "))")
            return true
        } catch {
            print("\(error)")
            return false
        }
    }
}
