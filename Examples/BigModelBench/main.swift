// big-model-bench: time and peak memory of full-size models on the CPU (a benchmark, not a test).
//
//   swift build -c release --product big-model-bench
//   .build/release/big-model-bench vae  --size 2048 --mode tiled|untiled [--tile 1024] [--compare]
//   .build/release/big-model-bench flux --file DIT.safetensors [--image 256] [--text 512] [--precision bf16]
//   .build/release/big-model-bench t5   --dir T5_FOLDER [--tokens 512] [--layers N] [--save OUT.safetensors]
//
// vae:  the FLUX.1 VAE config (AutoencoderConfig()) with random f32 weights decodes a random latent of
//       size/8 x size/8, tiled (VAETiling, --tile pixels, 25% overlap) or untiled. --compare also runs the
//       other mode at the same size and prints the difference between the two pictures.
// flux: loads a Flux DiT checkpoint (memory-mapped; e.g. the FLUX.1-dev-size fp8 file written by
//       Tools/make_big_random_checkpoints.py) and runs one step on --image x --image pixels
//       ((image/16)^2 image tokens) and --text text tokens.
// t5:   loads a T5 encoder folder (config.json + safetensors) and encodes --tokens random ids.
//
// Prints wall time, process CPU time and peak RSS (VmHWM, which counts mapped file pages that were
// touched) plus the RssAnon / RssFile split at the end. One JSON line per run goes to stdout.
import Foundation
import Models
import Tensor

/// Process CPU seconds (user + system).
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
}

/// A /proc/self/status field in GiB (VmHWM, VmRSS, RssAnon, RssFile).
func statusGiB(_ key: String) -> Double {
    guard let data = FileManager.default.contents(atPath: "/proc/self/status"),
          let text = String(data: data, encoding: .utf8) else { return -1 }
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
        // "VmHWM:\t12345678 kB": a tab, and spaces only when the number is short.
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if parts.count >= 2, let kb = Double(parts[1]) { return kb / 1024 / 1024 }
    }
    return -1
}

/// Runs `body`, returning its result, wall seconds and CPU seconds.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double, Double) {
    let c0 = cpuSeconds(), t0 = Date()
    let r = try body()
    return (r, Date().timeIntervalSince(t0), cpuSeconds() - c0)
}

func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
func fmt(_ x: Double) -> String { String(format: "%.2f", x) }

OpenBLASSetup.prepareProcess()  // first, before other threads: OpenBLAS's core and thread timeout
var options: [String: String] = [:]
var flags = Set<String>()
let argv = Array(CommandLine.arguments.dropFirst())
guard let command = argv.first else {
    log("usage: big-model-bench vae|flux|t5 [options] (see the header of Examples/BigModelBench/main.swift)")
    exit(2)
}
var i = 1
while i < argv.count {
    let a = argv[i]
    if a == "--compare" { flags.insert(a); i += 1; continue }
    guard a.hasPrefix("--"), i + 1 < argv.count else { log("bad argument \(a)"); exit(2) }
    options[String(a.dropFirst(2))] = argv[i + 1]
    i += 2
}
if let t = options["threads"].flatMap(Int.init) { CPUBackend.configureShared(CPUBackend.Configuration(threads: t)) }

func report(_ fields: [String: Any]) {
    var f = fields
    f["peak_rss_gib"] = statusGiB("VmHWM")
    f["rss_anon_gib"] = statusGiB("RssAnon")
    f["rss_file_gib"] = statusGiB("RssFile")
    f["threads"] = CPUBackend.shared.configuration.threads
    let data = try! JSONSerialization.data(withJSONObject: f, options: [.sortedKeys])
    print(String(data: data, encoding: .utf8)!)
}

do {
    switch command {
    case "vae":
        let size = Int(options["size"] ?? "2048")!
        let tile = Int(options["tile"] ?? "1024")!
        let tiled = (options["mode"] ?? "tiled") == "tiled"
        let config = AutoencoderConfig()
        let (vae, loadS, _) = try timed { try AutoencoderKL(config: config, weights: RandomVAEWeights.make(config), computeDType: .f32) }
        let z = TorchGenerator(seed: 1).randn([1, config.latentChannels, size / 8, size / 8])
        let tiling = VAETiling(sampleTileSize: tile)
        func run(_ tiled: Bool) throws -> Tensor { tiled ? try vae.tiledDecode(z, tiling: tiling) : vae.decode(z) }
        let (img, wall, cpu) = try timed { try run(tiled) }
        log("vae \(tiled ? "tiled \(tile)" : "untiled") \(size)x\(size): \(fmt(wall)) s wall, \(fmt(cpu)) s CPU, peak RSS \(fmt(statusGiB("VmHWM"))) GiB")
        var fields: [String: Any] = ["bench": "vae-decode", "size": size, "mode": tiled ? "tiled" : "untiled", "tile": tile,
                                     "wall_s": wall, "cpu_s": cpu, "load_s": loadS, "shape": img.shape]
        if flags.contains("--compare") {
            let other = try run(!tiled)
            let d = (img - other).floats().map(abs)
            let maxDiff = d.max() ?? 0, meanDiff = d.reduce(0, +) / Float(d.count)
            // In 8-bit pixels, as the PNG would hold them ((x + 1) * 127.5).
            fields["max_abs_diff_8bit"] = Double(maxDiff) * 127.5
            fields["mean_abs_diff_8bit"] = Double(meanDiff) * 127.5
            log("tiled vs untiled: max |diff| \(fmt(Double(maxDiff) * 127.5)) / 255, mean \(String(format: "%.4f", Double(meanDiff) * 127.5)) / 255")
        }
        report(fields)

    case "flux":
        guard let file = options["file"] else { log("flux needs --file"); exit(2) }
        let imageSize = Int(options["image"] ?? "256")!, textTokens = Int(options["text"] ?? "512")!
        let precision = WeightPrecision(rawValue: options["precision"] ?? "bf16") ?? .bf16
        let (dit, loadS, loadCPU) = try timed { () throws -> FluxTransformer in
            let source = try FluxCheckpointLayout.canonical(openWeights(path: file))
            let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
            return try FluxTransformer(config: config, weights: source, computeDType: precision == .f32 ? .f32 : nil,
                                       quantization: precision.ditQuantizationForBench)
        }
        log("flux loaded in \(fmt(loadS)) s (\(fmt(loadCPU)) s CPU), RSS \(fmt(statusGiB("VmRSS"))) GiB")
        let g = imageSize / 16
        let rng = TorchGenerator(seed: 3)
        let img = rng.randn([1, g * g, dit.config.inChannels])
        let txt = rng.randn([1, textTokens, dit.config.jointAttentionDim])
        let pooled = rng.randn([1, dit.config.pooledProjectionDim])
        let (v, wall, cpu) = timed { dit(img: img, height: g, width: g, txt: txt, pooled: pooled, timestep: [0.7], guidance: [3.5]) }
        let f = v.floats()
        let finite = f.allSatisfy { $0.isFinite }
        let rms = (f.map { Double($0 * $0) }.reduce(0, +) / Double(f.count)).squareRoot()
        log("flux step \(g * g) image + \(textTokens) text tokens: \(fmt(wall)) s wall, \(fmt(cpu)) s CPU, peak RSS \(fmt(statusGiB("VmHWM"))) GiB, output rms \(rms) finite \(finite)")
        report(["bench": "flux-step", "image": imageSize, "image_tokens": g * g, "text_tokens": textTokens,
                "precision": precision.rawValue, "load_s": loadS, "wall_s": wall, "cpu_s": cpu, "output_rms": rms, "finite": finite,
                "hidden": dit.config.hiddenSize, "double": dit.config.numLayers, "single": dit.config.numSingleLayers])

    case "t5":
        guard let dir = options["dir"] else { log("t5 needs --dir"); exit(2) }
        let tokens = Int(options["tokens"] ?? "512")!
        let layers = options["layers"].flatMap(Int.init)
        let (t5, loadS, loadCPU) = try timed { () throws -> T5Encoder in
            var config = try ConfigFile.load(T5Config.self, path: dir + "/config.json", what: "T5 config")
            let source: WeightSource = try CheckpointWeights(path: dir)
            guard let layers else { return try T5Encoder(config: config, weights: source) }
            // The first `layers` blocks only (a numerics check against an f32 reference that fits in memory).
            config.numLayers = layers
            return try T5Encoder(config: config, weights: FirstBlocks(source, keep: layers))
        }
        log("t5 loaded in \(fmt(loadS)) s (\(fmt(loadCPU)) s CPU), RSS \(fmt(statusGiB("VmRSS"))) GiB")
        // The same ids as Tools/bench_big_t5_reference.py: (i * 7919 + 13) % vocab, EOS (1) last.
        var ids = (0..<tokens).map { ($0 * 7919 + 13) % t5.config.vocabSize }
        ids[tokens - 1] = 1
        let (h, wall, cpu) = timed { t5([ids]) }
        let f = h.floats()
        let rms = (f.map { Double($0 * $0) }.reduce(0, +) / Double(f.count)).squareRoot()
        log("t5 encode \(tokens) tokens: \(fmt(wall)) s wall, \(fmt(cpu)) s CPU, peak RSS \(fmt(statusGiB("VmHWM"))) GiB, rms \(rms)")
        if let out = options["save"] {
            try SafeTensorsWriter.write(["hidden": h], to: out)
        }
        report(["bench": "t5-encode", "tokens": tokens, "load_s": loadS, "wall_s": wall, "cpu_s": cpu, "output_rms": rms])

    default:
        log("unknown benchmark \(command): vae, flux or t5")
        exit(2)
    }
} catch {
    log("error: \(error)")
    exit(1)
}

/// A T5 checkpoint seen without its blocks from `keep` on.
final class FirstBlocks: WeightSource {
    let base: WeightSource
    let kept: [String]
    init(_ base: WeightSource, keep: Int) {
        self.base = base
        kept = base.names.filter { name in
            guard name.hasPrefix("encoder.block.") else { return true }
            return Int(name.dropFirst("encoder.block.".count).prefix { $0 != "." })! < keep
        }
    }
    var names: [String] { kept }
    func shape(of name: String) -> [Int]? { base.shape(of: name) }
    func tensor(_ name: String) throws -> Tensor { try base.tensor(name) }
    func dtype(of name: String) -> DType? { base.dtype(of: name) }
}

extension WeightPrecision {
    /// The quantization `--precision` applies to the DiT's block Linears (as FluxPipeline does).
    var ditQuantizationForBench: LinearQuantization? {
        switch self {
        case .f32: return nil
        case .bf16: return .ggufBlocks  // a GGUF file's blocks as stored, as FluxPipeline
        case .fp8: return .fluxFP8
        case .int8: return .fluxInt8
        case .int4: return .fluxInt4
        case .gguf: return .ggufBlocks
        case .q8_0, .q6_k, .q5_k, .q4_k, .q3_k, .q2_k: return ggmlType.map { .gguf($0) }
        }
    }
}
