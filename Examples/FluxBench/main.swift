// flux-bench: one CPU inference measurement of the Models library on a model folder made by
// `Tools/bench_cpu_reference.py make` (a benchmark, not a test). Tools/bench_cpu_reference.py compare
// runs it next to the same measurement in PyTorch and prints the ratios.
//
//   flux-bench --dir DIR --case dit|dit-fp8|dit-int8|dit-q8_0|dit-q5_k|dit-q4_k|t5|vae|vae-encode|generate [--threads N] [--repeats N] [--steps N]
//              [--profile] [--no-winograd]
//   flux-bench --dir MODEL --case batch [--device cpu|cuda|cuda:N] [--precision P] [--size 512] [--steps N]
//              [--batches 1,2,4] [--repeats N]
//
// Prints one JSON line: wall and process CPU seconds of the best of --repeats runs after a warm-up
// (generate: one cold run that includes loading the weights), the load time, the peak RSS (VmHWM),
// the mean |output| (a sanity check against PyTorch's), and for DiT cases the weight bytes.
// --threads sets the shared CPU backend's thread count; set OPENBLAS_NUM_THREADS to the same number (the script does).
// batch: images per second of batched generation (`BatchBench`) on a real model folder, one JSON line
// per batch size.
// --profile prints the CPU backend's time per op class to stderr (see `OpProfile`).
import Foundation
import Models
import Tensor

var dir = ""
var benchCase = ""
var repeats = 2
var steps = 2
var profile = false
var cpuConfiguration = CPUBackend.Configuration()
var device = ComputeDevice.auto, precision = WeightPrecision.bf16, size = 512, batches = [1, 2, 4]
OpenBLASSetup.prepareProcess()  // first, before other threads: OpenBLAS's core and thread timeout
var args = CommandLine.arguments.dropFirst().makeIterator()
func usage() -> Never {
    FileHandle.standardError.write("usage: flux-bench --dir DIR --case dit|dit-fp8|dit-int8|dit-q8_0|dit-q5_k|dit-q4_k|t5|vae|vae-encode|generate [--threads N] [--repeats N] [--steps N] [--profile] [--no-winograd]\n       flux-bench --dir MODEL --case batch [--device cpu|cuda|cuda:N] [--precision P] [--size 512] [--steps N] [--batches 1,2,4] [--repeats N]\n".data(using: .utf8)!)
    exit(2)
}
while let a = args.next() {
    switch a {
    case "--dir": guard let v = args.next() else { usage() }; dir = v
    case "--case": guard let v = args.next() else { usage() }; benchCase = v
    case "--repeats": repeats = max(1, Int(args.next() ?? "") ?? repeats)
    case "--steps": steps = max(1, Int(args.next() ?? "") ?? steps)
    case "--threads": cpuConfiguration.threads = max(1, Int(args.next() ?? "") ?? cpuConfiguration.threads)
    case "--profile": profile = true
    case "--cache-mb": cpuConfiguration.bufferCacheLimitBytes = max(0, Int(args.next() ?? "") ?? 512) << 20
    case "--conv-tile-mb": cpuConfiguration.convTileBytes = max(1, Int(args.next() ?? "") ?? 4) << 20
    case "--no-winograd": cpuConfiguration.winograd = false
    case "--device": guard let v = args.next().flatMap(ComputeDevice.init(parsing:)) else { usage() }; device = v
    case "--precision": guard let v = args.next().flatMap(WeightPrecision.init(rawValue:)) else { usage() }; precision = v
    case "--size": guard let v = args.next().flatMap(Int.init), v >= 16, v % 16 == 0 else { usage() }; size = v
    case "--batches":
        let list = (args.next() ?? "").split(separator: ",").compactMap { Int($0) }
        guard !list.isEmpty, list.allSatisfy(GenerationLimits.batch.contains) else { usage() }
        batches = list
    default: usage()
    }
}
if dir.isEmpty || benchCase.isEmpty { usage() }
CPUBackend.configureShared(cpuConfiguration)
if benchCase == "batch" {
    do {
        try BatchBench(dir: dir, device: device, precision: precision, size: size, steps: steps, batches: batches, repeats: repeats).run()
        exit(0)
    } catch {
        FileHandle.standardError.write("flux-bench: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}

/// Process CPU time in seconds.
func cpuTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Peak resident set size in MiB (VmHWM; getrusage's ru_maxrss where /proc is missing).
func peakRSSMiB() -> Double {
    if let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Double(line.split(separator: " ").dropFirst().first ?? "") {
        return kb / 1024
    }
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

/// Current resident set size in MiB (VmRSS).
func currentRSSMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb / 1024
}

/// Best wall time of `repeats` runs after a warm-up, with that run's CPU time.
@MainActor func best(_ body: () -> Tensor) -> (wall: Double, cpu: Double, out: Tensor) {
    var out = body()
    if profile { FileHandle.standardError.write("after warm-up: rss \(currentRSSMiB()) MiB, peak \(peakRSSMiB()) MiB\n".data(using: .utf8)!) }
    var b = (wall: Double.infinity, cpu: Double.infinity)
    if profile { CPUBackend.shared.profile.reset() }
    for _ in 0..<repeats {
        let c0 = cpuTime(), t0 = now()
        out = body()
        let t1 = now(), c1 = cpuTime()
        if t1 - t0 < b.wall { b = (t1 - t0, c1 - c0) }
    }
    if profile { FileHandle.standardError.write((CPUBackend.shared.profile.report(runs: repeats) + "\n").data(using: .utf8)!) }
    return (b.wall, b.cpu, out)
}

func meanAbs(_ t: Tensor) -> Double {
    let v = t.to(.f32).floats()
    return v.reduce(0.0) { $0 + Double(abs($1)) } / Double(max(1, v.count))
}

do {
    let inputs = try CheckpointWeights(path: dir + "/bench_inputs.safetensors")
    var fields: [String: String] = ["case": "\"\(benchCase)\"", "impl": "\"ours\"", "threads": "\(CPUBackend.shared.configuration.threads)",
                                    "blas_core": "\"\(CPUBackend.blasCoreName)\""]
    let t0 = now()
    let wall: Double, cpu: Double, mean: Double
    switch benchCase {
    case "dit", "dit-fp8", "dit-int8", "dit-q8_0", "dit-q5_k", "dit-q4_k":
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: dir + "/transformer"))
        let declared = try ConfigFile.load(FluxConfig.self, path: dir + "/transformer/config.json", what: "transformer config")
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names, declared: declared)
        var q: LinearQuantization? = benchCase == "dit-fp8" ? .fluxFP8 : benchCase == "dit-int8" ? .fluxInt8 : nil
        // GGUF types: the block Linears quantised to ggml blocks at load and run by the block kernel.
        if let p = WeightPrecision(rawValue: String(benchCase.dropFirst(4))), let t = p.ggmlType { q = .gguf(t) }
        let dit = try FluxTransformer(config: config, weights: source, computeDType: .f32, quantization: q)
        fields["load_s"] = String(format: "%.3f", now() - t0)
        fields["weight_mib"] = String(format: "%.1f", Double(dit.weightByteCount) / 1048576)
        fields["rss_after_load_mib"] = String(format: "%.1f", currentRSSMiB())
        fields["peak_after_load_mib"] = String(format: "%.1f", peakRSSMiB())
        let img = try inputs.tensor("dit.img"), txt = try inputs.tensor("dit.txt"), pooled = try inputs.tensor("dit.pooled")
        let r = best { dit(img: img, height: 32, width: 32, txt: txt, pooled: pooled, timestep: [0.5], guidance: [3.5]) }
        (wall, cpu, mean) = (r.wall, r.cpu, meanAbs(r.out))
    case "t5":
        let config = try ConfigFile.load(T5Config.self, path: dir + "/text_encoder_2/config.json", what: "T5 config")
        let t5 = try T5Encoder(config: config, weights: CheckpointWeights(path: dir + "/text_encoder_2"), computeDType: .f32)
        fields["load_s"] = String(format: "%.3f", now() - t0)
        let ids = try inputs.tensor("t5.ids").integers()
        let r = best { t5([ids]) }
        (wall, cpu, mean) = (r.wall, r.cpu, meanAbs(r.out))
    case "vae":
        let config = try ConfigFile.load(AutoencoderConfig.self, path: dir + "/vae/config.json", what: "VAE config")
        let vae = try AutoencoderKL(config: config, weights: VAECheckpointLayout.canonical(CheckpointWeights(path: dir + "/vae"), config: config))
        fields["load_s"] = String(format: "%.3f", now() - t0)
        let z = try inputs.tensor("vae.latents")
        let r = best { vae.decode(z) }
        (wall, cpu, mean) = (r.wall, r.cpu, meanAbs(r.out))
    case "vae-encode":
        // The picture Tools/bench_cpu_reference.py encodes: 0.5 * torch.randn(1, 3, 1024, 1024), seed 0.
        let config = try ConfigFile.load(AutoencoderConfig.self, path: dir + "/vae/config.json", what: "VAE config")
        let vae = try AutoencoderKL(config: config, weights: VAECheckpointLayout.canonical(CheckpointWeights(path: dir + "/vae"), config: config))
        fields["load_s"] = String(format: "%.3f", now() - t0)
        let x = TorchGenerator(seed: 0).randn([1, 3, 1024, 1024]) * 0.5
        let r = best { (try? vae.latentDistribution(x, mode: .off).mean) ?? x }
        (wall, cpu, mean) = (r.wall, r.cpu, meanAbs(r.out))
    case "linear-probe":
        // Diagnosis: one T5 FFN weight as loaded (memory-mapped) vs the same values copied to the heap.
        let w = try CheckpointWeights(path: dir + "/text_encoder_2").tensor("encoder.block.0.layer.1.DenseReluDense.wi_0.weight")
        let heap = Tensor(w.floats(), shape: w.shape)
        let x = try inputs.tensor("dit.txt").reshaped(256, 1024)
        let a = best { linear(x, weight: w, bias: nil) }
        let b = best { linear(x, weight: heap, bias: nil) }
        let flop = 2.0 * 256 * 1024 * Double(w.shape[0]) / 1e9
        print("mapped \(a.wall) s (\(flop / a.wall) GFLOP/s), heap \(b.wall) s (\(flop / b.wall) GFLOP/s), dtype \(w.dtype) strides \(w.strides)")
        (wall, cpu, mean) = (a.wall, a.cpu, 0)
    case "conv-probe":
        // Diagnosis: the VAE's largest conv (3x3, 128 -> 128 at 512x512) at several im2col tile sizes.
        let xv: [Float] = (0..<(128 * 512 * 512)).map { (i: Int) -> Float in Float(i % 7) - 3 }
        let wv: [Float] = (0..<(128 * 128 * 9)).map { (i: Int) -> Float in Float(i % 5) * 0.01 }
        var line = "conv 128->128 3x3 at 512x512 (77.3 GFLOP):"
        for mb in [1, 4, 16] {
            var c = cpuConfiguration
            c.convTileBytes = mb << 20
            let b = CPUBackend(configuration: c)
            let x = Tensor(xv, shape: [1, 128, 512, 512], backend: b), w = Tensor(wv, shape: [128, 128, 3, 3], backend: b)
            let r = best { conv2d(x, weight: w, bias: nil, padding: 1) }
            line += " tile \(mb) MB: wall \(r.wall) cpu \(r.cpu);"
        }
        print(line)
        (wall, cpu, mean) = (0, 0, 0)
    case "generate":
        let c0 = cpuTime()
        let pipeline = try FluxPipeline(files: FluxModelFiles.resolve(modelDir: dir), precision: .f32)
        var request = GenerationRequest(prompt: "a lighthouse on a cliff at dusk, watercolor", seed: 42, steps: steps, width: 512, height: 512)
        request.maxSequenceLength = 256
        if profile { CPUBackend.shared.profile.reset() }
        let image = try pipeline.generate(request)
        (wall, cpu) = (now() - t0, cpuTime() - c0)
        if profile { FileHandle.standardError.write((CPUBackend.shared.profile.report(runs: 1) + "\n").data(using: .utf8)!) }
        mean = image.rgb.reduce(0.0) { $0 + Double($1) } / Double(max(1, image.rgb.count))
    default:
        usage()
    }
    fields["wall_s"] = String(format: "%.4f", wall)
    fields["cpu_s"] = String(format: "%.4f", cpu)
    fields["mean_abs"] = String(format: "%.6f", mean)
    fields["peak_rss_mib"] = String(format: "%.1f", peakRSSMiB())
    if profile, let maps = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8) {
        FileHandle.standardError.write(maps.data(using: .utf8)!)
    }
    print("{" + fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}")
} catch {
    FileHandle.standardError.write("flux-bench: \(error)\n".data(using: .utf8)!)
    exit(1)
}
