// tensor-bench: CPU throughput of the Tensor library's GEMM-based ops (a benchmark, not a test).
//
//   swift run -c release tensor-bench [--json] [--repeats N] [--threads N] [--quick]
//
// --threads sets the shared CPU backend's worker count; set OPENBLAS_NUM_THREADS
// to the same number for OpenBLAS. Times are wall-clock; the process CPU time of the fastest run is
// reported too (it is less disturbed by other processes competing for the cores).
//
// Prints best-of-N wall times for:
//   - matmul 1024 x 1024 x 1024 and M x N x K = 4096 x 4096 x 1024 (f32, OpenBLAS sgemm), as GFLOP/s
//   - scaledDotProductAttention, B = 1, 24 heads, 4608 tokens, head size 128 (Flux at 1024x1024)
//   - extras: linear 4608 x 3072 -> 3072 with f32 and bf16 weights, conv2d 3x3 128 -> 128 at 256x256
// Tools/bench_reference.py runs the same shapes in numpy / PyTorch and can run this program with
// --json to print both side by side.
import Foundation
import Tensor

var json = false
var repeats = 5
var quick = false
var cpuConfiguration = CPUBackend.Configuration()
OpenBLASSetup.prepareProcess()  // first, before other threads: OpenBLAS's core and thread timeout
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--json": json = true
    case "--repeats": repeats = Int(args.next() ?? "") ?? repeats
    case "--quick": quick = true
    case "--threads": cpuConfiguration.threads = max(1, Int(args.next() ?? "") ?? cpuConfiguration.threads)
    default:
        FileHandle.standardError.write("usage: tensor-bench [--json] [--repeats N] [--threads N] [--quick]\n".data(using: .utf8)!)
        exit(2)
    }
}
CPUBackend.configureShared(cpuConfiguration)

/// Deterministic pseudo-random f32 values in [-1, 1).
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    let n = shape.reduce(1, *)
    var v = [Float](repeating: 0, count: n)
    for i in 0..<n {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        v[i] = Float(Int64(bitPattern: s >> 40) & 0xFFFFFF) / Float(1 << 23) - 1
    }
    return Tensor(v, shape: shape)
}

/// Process CPU time in seconds.
func cpuTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Best wall time in seconds of `repeats` runs (after one warm-up run), with that run's CPU time.
func best(_ repeats: Int, _ body: () -> Tensor) -> (wall: Double, cpu: Double) {
    _ = body()
    var bestTime = (wall: Double.infinity, cpu: Double.infinity)
    for _ in 0..<repeats {
        let c0 = cpuTime()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let y = body()
        let t1 = DispatchTime.now().uptimeNanoseconds
        let c1 = cpuTime()
        withExtendedLifetime(y) {}
        let wall = Double(t1 - t0) / 1e9
        if wall < bestTime.wall { bestTime = (wall, c1 - c0) }
    }
    return bestTime
}

struct Result { let name: String; let seconds: Double; let cpuSeconds: Double; let gflop: Double }
var results: [Result] = []
@MainActor func record(_ name: String, gflop: Double, _ time: (wall: Double, cpu: Double)) {
    results.append(Result(name: name, seconds: time.wall, cpuSeconds: time.cpu, gflop: gflop))
    if !json {
        let padded = name.count < 40 ? name + String(repeating: " ", count: 40 - name.count) : name
        print(padded + String(format: " %9.2f ms  %7.1f GFLOP/s  (CPU %.2f ms)", time.wall * 1e3, gflop / time.wall, time.cpu * 1e3))
    }
}

if !json { print("tensor-bench: backend \(CPUBackend.shared.name), \(CPUBackend.shared.configuration.threads) threads, best of \(repeats)") }

// GEMMs.
for (m, n, k) in [(1024, 1024, 1024), (4096, 4096, 1024)] {
    let a = randomTensor([m, k], seed: 1), b = randomTensor([k, n], seed: 2)
    record("matmul \(m)x\(n)x\(k) (MxNxK)", gflop: 2.0 * Double(m * n * k) / 1e9, best(repeats) { matmul(a, b) })
}

// Attention: B=1, H=24, L=4608, D=128.
do {
    let (h, l, d) = (24, quick ? 1024 : 4608, 128)
    let q = randomTensor([1, h, l, d], seed: 3), k = randomTensor([1, h, l, d], seed: 4), v = randomTensor([1, h, l, d], seed: 5)
    let flop = 4.0 * Double(h) * Double(l) * Double(l) * Double(d) / 1e9
    record("attention 1x\(h)x\(l)x\(d)", gflop: flop, best(max(1, min(repeats, 3))) { scaledDotProductAttention(q, k, v) })
}

// Extras: a Flux-sized linear (f32 and bf16 weight) and a VAE-sized conv.
do {
    let x = randomTensor([4608, 3072], seed: 6), w = randomTensor([3072, 3072], seed: 7), bias = randomTensor([3072], seed: 8)
    let flop = 2.0 * 4608 * 3072 * 3072 / 1e9
    record("linear 4608x3072->3072 f32 weight", gflop: flop, best(repeats) { linear(x, weight: w, bias: bias) })
    let w16 = w.to(.bf16)
    record("linear 4608x3072->3072 bf16 weight", gflop: flop, best(repeats) { linear(x, weight: w16, bias: bias) })
}
do {
    let x = randomTensor([1, 128, 256, 256], seed: 9), w = randomTensor([128, 128, 3, 3], seed: 10), b = randomTensor([128], seed: 11)
    let flop = 2.0 * 128 * 128 * 9 * 256 * 256 / 1e9
    record("conv2d 3x3 128->128 at 256x256", gflop: flop, best(repeats) { conv2d(x, weight: w, bias: b, padding: 1) })
}

if json {
    let items = results.map { r in
        "{\"name\": \"\(r.name)\", " + String(format: "\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"gflop\": %.4f}", r.seconds, r.cpuSeconds, r.gflop)
    }
    print("{\"threads\": \(CPUBackend.shared.configuration.threads), \"repeats\": \(repeats), \"results\": [" + items.joined(separator: ", ") + "]}")
}
