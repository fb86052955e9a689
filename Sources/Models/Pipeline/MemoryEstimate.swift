#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Quant
import Tensor

/// What a generation will need in memory, estimated from checkpoint headers only (nothing is loaded):
/// per stage, the weights as the chosen precision holds them plus the working buffers at the requested
/// size. Stages load one after another (`keepLoaded == false`), so the peak is the largest stage; a
/// server that keeps every stage loaded needs all the weights at once plus the largest working set.
public struct MemoryEstimate: Sendable, Equatable {
    /// One pipeline stage.
    public struct Stage: Sendable, Equatable {
        public var name: String
        /// Weights in memory (mapped pages of stored tensors, or converted/quantized copies).
        public var weightBytes: Int64
        /// Activations and scratch at the requested size.
        public var workingBytes: Int64
        public var totalBytes: Int64 { weightBytes + workingBytes }
    }

    public var precision: WeightPrecision
    public var stages: [Stage]
    public var keepLoaded: Bool
    /// The process itself (code, tokenizers, allocator slack).
    public var baselineBytes: Int64 = 400 << 20

    /// The estimated peak resident memory.
    public var peakBytes: Int64 {
        if keepLoaded {
            return stages.map(\.weightBytes).reduce(0, +) + (stages.map(\.workingBytes).max() ?? 0) + baselineBytes
        }
        return (stages.map(\.totalBytes).max() ?? 0) + baselineBytes
    }

    /// The stage that sets the peak when stages load one at a time.
    public var largestStage: Stage? { stages.max { $0.totalBytes < $1.totalBytes } }

    /// One line per stage, for messages.
    public var breakdown: String {
        stages.map { "\($0.name): weights \(Self.gib($0.weightBytes)) + working \(Self.gib($0.workingBytes))" }
            .joined(separator: "; ")
    }

    /// Bytes as "12.3 GiB".
    public static func gib(_ bytes: Int64) -> String {
        let tenths = (Double(bytes) / Double(1 << 30) * 10).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10) GiB"
    }
}

/// The size of one generation, as far as memory is concerned.
public struct MemoryRequest: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var sequenceLength: Int
    public var vaeTilingMode: VAETilingMode
    public var vaeTiling: VAETiling
    public init(width: Int, height: Int, sequenceLength: Int, vaeTilingMode: VAETilingMode = .auto,
                vaeTiling: VAETiling = VAETiling()) {
        self.width = width
        self.height = height
        self.sequenceLength = sequenceLength
        self.vaeTilingMode = vaeTilingMode
        self.vaeTiling = vaeTiling
    }
}

extension FluxModelFiles {
    /// Estimates the peak memory of generating `request` at `precision` (reads headers and configs only).
    /// Configs are checked against `ConfigBounds` as they are read, which keeps this arithmetic far
    /// from overflow; sizes outside 1...65536 (sequence 0...65536) are refused.
    public func estimateMemory(precision: WeightPrecision, request: MemoryRequest, keepLoaded: Bool = false) throws -> MemoryEstimate {
        for (name, v, range) in [("width", request.width, 1...65536), ("height", request.height, 1...65536),
                                 ("sequence length", request.sequenceLength, 0...65536)] where !range.contains(v) {
            throw ModelError.invalidParameter("\(name) must be \(range.lowerBound)...\(range.upperBound) for a memory estimate, got \(v)")
        }
        let f32 = MemoryModel.f32
        // CLIP and the VAE are converted to f32 when they load (small models).
        let clip = try CheckpointWeights(path: self.clip)
        let clipWeights = MemoryModel.bytes(clip, asF32: true)
        let clipWorking: Int64 = 77 * 3072 * 4 * 8 + (64 << 20)

        let t5 = try openWeights(path: self.t5, dequantizedDType: precision.ggufDequantizedDType)
        let t5Config = try t5Config.map { try ConfigFile.load(T5Config.self, path: $0, what: "T5 config") } ?? T5Config()
        let l = Int64(request.sequenceLength)
        let t5Weights = MemoryModel.bytes(t5, asF32: precision == .f32)
        // Hidden states and FFN activations, the (1, H, L, L) position bias, decode panels of stored weights.
        let t5Working = l * Int64(t5Config.dFF * 4 + t5Config.dModel * 8) * f32
            + Int64(t5Config.numHeads) * l * l * f32 * 2 + (128 << 20)

        let ditSource = try openWeights(path: transformer, dequantizedDType: precision.ggufDequantizedDType)
        let ditWeights = MemoryModel.ditBytes(ditSource, precision: precision)
        let canonical = try FluxCheckpointLayout.canonical(ditSource, component: transformerComponent)
        let declared = try transformerConfig.map { try ConfigFile.load(FluxConfig.self, path: $0, what: "transformer config") }
        let ditConfig = try FluxConfig.infer(shape: canonical.logicalShape(of:), names: canonical.names, declared: declared,
                                             component: transformerComponent, axesMustBeKnown: true)
        let tokens = Int64((request.height / 16) * (request.width / 16)) + l
        let d = Int64(ditConfig.hiddenSize), mlp = Int64(ditConfig.mlpHiddenSize)
        // The single block's fused projection (3d + mlp) and its inputs/outputs, a few residual streams,
        // attention scratch (bounded blocks), and f32 panels of the weight being multiplied.
        let ditWorking = tokens * (3 * d + mlp) * f32 * 3 + tokens * d * f32 * 12 + (256 << 20)

        let vae = try CheckpointWeights(path: self.vae)
        let vaeWeights = MemoryModel.bytes(vae, asF32: true)
        let vaeWorking = MemoryModel.vaeDecodeBytes(width: request.width, height: request.height,
                                                   mode: request.vaeTilingMode, tiling: request.vaeTiling)
        return MemoryEstimate(precision: precision, stages: [
            .init(name: "CLIP", weightBytes: clipWeights, workingBytes: clipWorking),
            .init(name: "T5", weightBytes: t5Weights, workingBytes: t5Working),
            .init(name: "DiT", weightBytes: ditWeights, workingBytes: ditWorking),
            .init(name: "VAE", weightBytes: vaeWeights, workingBytes: vaeWorking),
        ], keepLoaded: keepLoaded)
    }
}

/// The arithmetic behind `MemoryEstimate`.
enum MemoryModel {
    static let f32: Int64 = 4

    /// Bytes of every tensor in memory: as stored (memory-mapped), or as f32 when the loader converts.
    static func bytes(_ w: WeightSource, asF32: Bool) -> Int64 {
        var total: Int64 = 0
        for name in w.names {
            guard let dt = w.dtype(of: name), let shape = w.shape(of: name) else { continue }
            let n = Int64(shape.reduce(1, *))
            total += n * Int64(asF32 && dt.isFloatingPoint ? 4 : dt.byteSize)
        }
        return total
    }

    /// DiT bytes under `precision`: stored-quantized layers as stored (GGUF blocks under `.gguf`); block Linears the precision
    /// quantizes at their quantized size (+ scales); the rest as stored, or f32 for `.f32`.
    static func ditBytes(_ w: WeightSource, precision: WeightPrecision) -> Int64 {
        var total: Int64 = 0
        let policy = precision.ditQuantization?.policy
        for name in w.names {
            guard let dt = w.dtype(of: name), let shape = w.shape(of: name) else { continue }
            let n = Int64(shape.reduce(1, *))
            if let kept = MemoryModel.keptGGUFBytes(w, name, precision: precision) {
                total += kept
            } else if [.f8e4m3fn, .f8e5m2, .i8, .u8].contains(dt) || QuantKeys.isCompanion(name) {
                total += n * Int64(dt.byteSize)
            } else if let policy, policy.shouldQuantize(name, shape: shape) {
                let rows = Int64(shape[0])
                switch policy.format {
                case .int4: total += n / 2 + n / 64 * 4
                default: total += n + rows * 4
                }
            } else {
                total += n * Int64(precision == .f32 && dt.isFloatingPoint ? 4 : dt.byteSize)
            }
        }
        return total
    }

    /// Working memory of a VAE decode: about `vaeBytesPerPixel` per output pixel of the (tile) image,
    /// measured on this CPU backend (the full-resolution 256- and 128-channel activations dominate).
    static func vaeDecodeBytes(width: Int, height: Int, mode: VAETilingMode, tiling: VAETiling) -> Int64 {
        let tiled: Bool
        switch mode {
        case .off: tiled = false
        case .on: tiled = true
        case .auto: tiled = width > tiling.sampleTileSize || height > tiling.sampleTileSize
        }
        let (w, h) = tiled ? (Swift.min(width, tiling.sampleTileSize), Swift.min(height, tiling.sampleTileSize)) : (width, height)
        // Tiles of the output image kept for blending (3 f32 channels, about twice the image).
        let outputs = Int64(width) * Int64(height) * 3 * 4 * 2
        return Int64(w) * Int64(h) * vaeBytesPerPixel + outputs + (64 << 20)
    }

    /// Peak bytes of decoder activations per output pixel. Calibrated with Examples/BigModelBench: the
    /// Flux VAE decoding one 1024x1024 tile peaks at 3.37 GiB RSS, ~3.1 GiB of it activations.
    static let vaeBytesPerPixel: Int64 = 3400
}

/// Memory the system can give us now.
public enum SystemMemory {
    /// `MemAvailable` from /proc/meminfo in bytes; nil where the file is absent (not Linux).
    public static func available(meminfo path: String = "/proc/meminfo") -> Int64? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return nil }
        return parseMemAvailable(text)
    }

    /// `MemTotal` from /proc/meminfo in bytes; nil where the file is absent (not Linux).
    public static func total(meminfo path: String = "/proc/meminfo") -> Int64? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return nil }
        return parse(text, field: "MemTotal:")
    }

    /// The `MemAvailable:  N kB` line of a meminfo text, in bytes.
    public static func parseMemAvailable(_ text: String) -> Int64? { parse(text, field: "MemAvailable:") }

    /// The `FIELD  N kB` line of a meminfo text, in bytes.
    static func parse(_ text: String, field: String) -> Int64? {
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kb = Int64(parts[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }
}

/// The answer of a memory check before loading.
public struct MemoryCheck: Sendable {
    public var estimate: MemoryEstimate
    public var availableBytes: Int64
    /// Estimates for the other precisions, for the advice in the message.
    public var alternatives: [MemoryEstimate]

    public var fits: Bool { estimate.peakBytes <= availableBytes }

    /// Precisions whose estimate fits, cheapest last.
    public var fittingPrecisions: [WeightPrecision] {
        alternatives.filter { $0.peakBytes <= availableBytes }.map(\.precision)
    }

    /// The refusal text: what is needed, what is available, what would fit, how to override.
    public var refusal: String {
        let e = estimate
        var s = "not enough memory for --precision \(e.precision.rawValue): the largest stage needs about "
            + "\(MemoryEstimate.gib(e.peakBytes)) (\(e.breakdown)), but only \(MemoryEstimate.gib(availableBytes)) "
            + "is available (MemAvailable in /proc/meminfo)."
        let fitting = fittingPrecisions
        if fitting.isEmpty {
            s += " No --precision fits at this size; try a smaller --width/--height or free memory."
        } else {
            let list = fitting.map { p in
                "--precision \(p.rawValue) (~\(MemoryEstimate.gib(alternatives.first { $0.precision == p }!.peakBytes)))"
            }
            s += " These would fit: " + list.joined(separator: ", ") + "."
        }
        return s + " To try anyway, pass --skip-memory-check."
    }

    /// Estimates `precision` and the alternatives against `available` (default: MemAvailable now).
    /// Nil when the available memory cannot be read.
    public static func run(files: FluxModelFiles, precision: WeightPrecision, request: MemoryRequest,
                           keepLoaded: Bool, available: Int64? = SystemMemory.available()) throws -> MemoryCheck? {
        guard let available else { return nil }
        let estimate = try files.estimateMemory(precision: precision, request: request, keepLoaded: keepLoaded)
        let others = try WeightPrecision.allCases.filter { $0 != precision }.map {
            try files.estimateMemory(precision: $0, request: request, keepLoaded: keepLoaded)
        }
        return MemoryCheck(estimate: estimate, availableBytes: available, alternatives: others)
    }
}
