import ArgumentParser
import Foundation
import Models
import Quant
import Tensor

/// `majicflux quantize INPUT OUTPUT --format ... --scale ...`: converts a safetensors checkpoint,
/// streaming tensor by tensor, and prints a per-layer error report.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize the Linear weights of a safetensors checkpoint (fp8, int8, int4, or a GGUF file).",
        discussion: """
        By default the Linear weights inside the Flux double/single blocks are quantized; embedders, \
        norms, biases and the final layer are copied unchanged. INPUT is a .safetensors file, an \
        *.index.json of a sharded checkpoint, or a folder holding either. OUTPUT is one .safetensors file, \
        or one .gguf file for the gguf-* formats; an existing OUTPUT is replaced once the new file is \
        complete (never the input). GGUF: ComfyUI-GGUF / llama.cpp blocks, byte-identical to the \
        gguf Python package's quantizer, and for the k-quants to ggml's reference quantizers; tensors left \
        alone keep F32/F16/BF16). A diffusers transformer/ is written under BFL names (q, k, v fused), \
        as single-file Flux DiTs are.
        """)

    @Argument(help: "Input checkpoint (.safetensors file, .index.json, or folder).")
    var input: String

    @Argument(help: "Output .safetensors file (a .gguf file for the gguf-* formats); replaced if it exists.")
    var output: String

    @Option(help: "fp8-e4m3fn, fp8-e5m2, int8, int4, or a GGUF type: gguf-q8_0, gguf-q6_k, gguf-q5_k, gguf-q5_0, gguf-q5_1, gguf-q4_k, gguf-q4_0, gguf-q4_1, gguf-q3_k, gguf-q2_k, gguf-bf16, gguf-f16, gguf-f32.")
    var format: String = "fp8-e4m3fn"

    @Option(help: "Scale granularity: none, tensor, channel or block:N (default: block:64 for int4, whose 16 levels need a scale per group, as --precision int4 uses; tensor otherwise).")
    var scale: String?

    @Option(help: "e4m3fn overflow rule, for --format fp8-e4m3fn --scale none only (scaled weights never overflow): saturate (PyTorch 2.15, the default) or nan (PyTorch 2.11).")
    var overflow: String?

    @Flag(help: "Quantize every 2-D .weight tensor, not only the Flux block Linears.")
    var allLinear = false

    @Flag(help: "Print only the summary.")
    var quiet = false

    /// What the options ask for: a safetensors file in `format` with `granularity`, or a GGUF file of
    /// `type`. Throws `ValidationError` naming the option that does not fit.
    enum Plan {
        case safetensors(QuantFormat, ScaleGranularity)
        case gguf(GGMLType)
    }

    func plan() throws -> Plan {
        if format.hasPrefix("gguf-") {
            let name = String(format.dropFirst(5))
            guard let type = GGMLType(name: name), GGMLType.quantizable.contains(type) else {
                throw ValidationError("--format gguf-TYPE takes one of \(GGMLType.quantizable.map { "gguf-" + $0.name.lowercased() }.joined(separator: ", ")) (the gguf package's types and the k-quants), got '\(format)'")
            }
            guard scale == nil else { throw ValidationError("--scale does not apply to GGUF formats: every block (32 or 256 weights) carries its own scales; leave it out") }
            guard overflow == nil else { throw ValidationError("--overflow applies only to --format fp8-e4m3fn; leave it out") }
            // The file's name says what it is: loaders (ours, ComfyUI-GGUF) choose the reader by it.
            guard output.lowercased().hasSuffix(".gguf") else {
                throw ValidationError("--format \(format) writes a GGUF file: name OUTPUT *.gguf (got \(output))")
            }
            return .gguf(type)
        }
        guard let fmt = QuantFormat(rawValue: format), fmt.isQuantized else {
            let ggufs = GGMLType.quantizable.map { "gguf-" + $0.name.lowercased() }
            throw ValidationError("--format must be one of \((QuantFormat.quantizedFormats.map(\.rawValue) + ggufs).joined(separator: ", ")), got '\(format)'")
        }
        let gran: ScaleGranularity
        do { gran = try ScaleGranularity(parsing: scale ?? (fmt == .int4 ? "block:64" : "tensor")) } catch { throw ValidationError("\(error)") }
        if let overflow {
            guard overflow == "saturate" || overflow == "nan" else { throw ValidationError("--overflow must be saturate or nan") }
            guard fmt == .fp8e4m3fn && gran == .none else {
                throw ValidationError("--overflow applies only to --format fp8-e4m3fn with --scale none (scaled weights never overflow); leave it out")
            }
        }
        if fmt.isInteger && gran == .none { throw ValidationError("--format \(fmt) needs --scale tensor, channel or block:N") }
        // The file's name says what it is (as for GGUF above): `generate` and other tools choose the reader by it.
        var isFolder: ObjCBool = false
        let folder = FileManager.default.fileExists(atPath: output, isDirectory: &isFolder) && isFolder.boolValue  // refused by name later
        guard output.lowercased().hasSuffix(".safetensors") || folder else {
            throw ValidationError("--format \(format) writes a safetensors file: name OUTPUT *.safetensors (got \(output))"
                                  + (output.lowercased().hasSuffix(".gguf") ? ", or choose a gguf-* format" : ""))
        }
        return .safetensors(fmt, gran)
    }

    /// Option errors are reported here, before `run`, so that the message comes with this command's usage.
    func validate() throws { _ = try plan() }

    func run() throws {
        let (fmt, gran): (QuantFormat, ScaleGranularity)
        switch try plan() {
        case .gguf(let type): return try runGGUF(type)
        case .safetensors(let f, let g): (fmt, gran) = (f, g)
        }
        var policy = QuantPolicy.fluxDiT(format: fmt, granularity: gran, overflow: overflow == "nan" ? .nan : .saturate)
        if allLinear { policy.selects = { name, shape in shape.count == 2 && name.hasSuffix(".weight") } }

        let source = try openInput()
        let converter = try QuantizeConverter(source: source, policy: policy)
        // Ctrl-C or kill during the conversion must not leave the partial file (as large as the output).
        try SignalCleanup.removeOnSignal(SafeTensorsWriter.temporaryPath(for: output))
        defer { SignalCleanup.disarm() }
        print("quantize \(input) -> \(output): \(fmt) scale \(gran), \(converter.quantizedLayerCount) of \(converter.entries.count) tensors quantized")
        if converter.quantizedLayerCount == 0 { warnNothingQuantized("no tensor is a Flux block Linear weight") }
        printReportHeader()
        let summary = try converter.write(to: output, onLayer: printLayer)
        printSummary(converter.reports, summary)
    }

    /// `--format gguf-TYPE`: a GGUF file with the selected Linears as TYPE (GGUFConverter).
    private func runGGUF(_ type: GGMLType) throws {
        var selects: @Sendable (String, [Int]) -> Bool = QuantPolicy.isFluxBlockLinearWeight
        if allLinear { selects = { name, shape in shape.count == 2 && name.hasSuffix(".weight") } }
        let source = try openInput()
        let converter = try GGUFConverter(source: source, type: type, selects: selects)
        try SignalCleanup.removeOnSignal(SafeTensorsWriter.temporaryPath(for: output))
        defer { SignalCleanup.disarm() }
        print("quantize \(input) -> \(output): GGUF \(type), \(converter.quantizedLayerCount) of \(converter.entries.count) tensors quantized")
        if converter.quantizedLayerCount == 0 {
            warnNothingQuantized("no tensor is a Flux block Linear weight whose rows \(type) can hold (blocks of \(type.blockSize) values)")
        }
        printReportHeader()
        let summary = try converter.write(to: output, onLayer: printLayer)
        printSummary(converter.reports, summary)
    }

    /// The input checkpoint, with a bad OUTPUT (the input itself, a folder, a read-only folder) refused
    /// before any work. A diffusers `transformer/` is read under BFL names, so the file written is a
    /// single-file DiT as ComfyUI and the loader expect (with separate names, q, k and v would be
    /// quantized apart and the loader would have to dequantize them to fuse them).
    private func openInput() throws -> TensorSource {
        if isGGUF(input) {
            throw CLIError("\(input) is a GGUF file: quantize reads safetensors checkpoints (or a diffusers transformer/ folder). "
                                  + "A .gguf DiT is already quantized: use it as it is (--dit \(input))")
        }
        let checkpoint = try SafeTensorsCheckpoint(path: input)
        try OutputPath.check(output, notSameAs: checkpoint.filePaths)
        for stale in SafeTensorsWriter.removeStaleTemporaryFiles(for: output) {
            Console.info("removed \(stale), left by an earlier run that was stopped")
        }
        guard let bfl = try FluxCheckpointLayout.bflSource(of: checkpoint, description: input) else { return checkpoint }
        Console.info("note: \(input) is a diffusers transformer; \(output) gets BFL names (double_blocks.N..., q/k/v fused), as single-file Flux DiTs have")
        return bfl
    }

    /// The output would be the input again, in another file: say so rather than look like success.
    private func warnNothingQuantized(_ why: String) {
        Console.info("warning: nothing will be quantized: \(why)" + (allLinear ? "" : "; --all-linear takes every 2-D weight")
                     + ". OUTPUT holds the input's tensors as they are.")
    }

    private func printReportHeader() {
        guard !quiet else { return }
        print(pad("layer", 58) + pad("shape", 14) + pad("rel err", 11) + pad("max abs", 11) + pad("nan", 6) + pad("overflow", 9) + "MB in->out")
    }

    private func printLayer(_ r: QuantizeConverter.LayerReport) {
        guard !quiet else { return }
        print(pad(r.layer, 58) + pad(r.shape.map(String.init).joined(separator: "x"), 14)
              + pad(String(format: "%.3e", r.error.relativeError), 11) + pad(String(format: "%.3e", r.error.maxAbsError), 11)
              + pad("\(r.error.nanCount)", 6) + pad("\(r.error.overflowCount)", 9)
              + String(format: "%.1f->%.1f", Double(r.bytesIn) / 1e6, Double(r.bytesOut) / 1e6))
    }

    private func printSummary(_ reps: [QuantizeConverter.LayerReport], _ summary: QuantizeConverter.Summary) {
        let count = reps.reduce(0) { $0 + $1.error.count }
        // Element-weighted mean of the relative errors, worst layer, totals.
        let meanRel = count > 0 ? reps.reduce(0.0) { $0 + $1.error.relativeError * Double($1.error.count) } / Double(count) : 0
        let worst = reps.max { $0.error.relativeError < $1.error.relativeError }
        print(String(format: "quantized %d layers (%d values): mean rel err %.3e, worst %@ %.3e, max abs %.3e, nan %d, overflow %d",
                     reps.count, count, meanRel, worst?.layer ?? "-", worst?.error.relativeError ?? 0,
                     reps.map(\.error.maxAbsError).max() ?? 0, reps.reduce(0) { $0 + $1.error.nanCount },
                     reps.reduce(0) { $0 + $1.error.overflowCount }))
        print(String(format: "wrote %@: %d tensors, %.1f MB in %.1f s", output, summary.tensors, Double(summary.bytesWritten) / 1e6, summary.seconds))
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
}
