import Quant
import Tensor

/// A Linear whose weight stays in the ggml block format of a GGUF file (Q8_0 ... Q2_K): the model is
/// held 2-8 bit and never expanded whole.
///
/// The blocks are an ordinary u8 parameter (rows x rowBytes) visited under `weight`, so streaming
/// (`BlockStreamer`) and device slots move them like any tensor. Where they are decides the kernel:
/// - on a backend adopting `BlockDequantizing` (CUDA), the backend expands this one layer to the
///   compute dtype (a transient) and the dense GEMM runs;
/// - on the CPU, Quant's block kernel (`GGUFBlockLinear`) decodes panels of rows into a small f32
///   buffer and multiplies them with BLAS;
/// - on another backend, the layer is expanded on the host and the dense weight uploaded (slow, but
///   correct).
public struct GGUFLinear: LinearLayer {
    /// The ggml blocks, u8 [outFeatures, format.rowBytes(columns: inFeatures)].
    public var blocks: Tensor
    /// Their block format.
    public let format: BlockQuantFormat
    /// (out) or nil.
    public var bias: Tensor?
    public let inFeatures: Int
    public let outFeatures: Int
    /// Run on fp8 tensor cores where the backend can (`BlockFP8Expanding`): the blocks expand to
    /// e4m3 instead of the compute dtype (GGUFLinear+FP8.swift). Off: ggml's exact values.
    public var computesInFP8 = false
    /// With `computesInFP8`: one e4m3 scale per output row instead of one per tensor (and the
    /// activations per row). Off by default: on a full-size random DiT it gave the same error as per
    /// tensor at 1.20x instead of 1.15x the fp8 step; a checkpoint with outlier rows may gain from it.
    public var fp8RowScales = false
    /// The kept e4m3 scale(s) of the fp8 path (shared by copies of this layer: same blocks, same scale).
    let fp8Scale = Locked<(perRow: Bool, scale: Tensor)?>(nil)
    /// The delayed scales of the fp8 path's GELU output and LayerNorm input (`FP8Linear.geluScale`,
    /// `inputScale`), kept across calls and by row slices (`rows`).
    var geluScale = DelayedE4M3Scale(), inputScale = DelayedE4M3Scale()

    /// Makes the layer; throws when `blocks` or `bias` do not fit (out, in) in `format`.
    public init(blocks: Tensor, format: BlockQuantFormat, inFeatures: Int, outFeatures: Int, bias: Tensor?) throws {
        guard inFeatures % format.blockSize == 0 else {
            throw ModelError.invalidParameter("a \(format.rawValue) Linear needs whole blocks of \(format.blockSize) inputs, not \(inFeatures)")
        }
        let rowBytes = format.rowBytes(columns: inFeatures)
        guard blocks.dtype == .u8, blocks.count == outFeatures * rowBytes else {
            throw ModelError.invalidParameter("\(format.rawValue) blocks \(blocks.shape) (\(blocks.dtype)) do not hold a \(outFeatures)x\(inFeatures) weight (\(outFeatures * rowBytes) bytes)")
        }
        if let b = bias, b.count != outFeatures {
            throw ModelError.invalidParameter("bias \(b.shape) for a Linear with \(outFeatures) outputs")
        }
        self.blocks = blocks.reshaped([outFeatures, rowBytes])
        self.format = format
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// `weight` (out, in; any float dtype, any backend) quantised to `format` with Quant's ggml
    /// quantisers (`GGUFQuantize`, the reference `gguf` package's / ggml's bytes); the blocks are put
    /// where the weight was.
    public init(quantizing weight: Tensor, format: BlockQuantFormat, bias: Tensor?) throws {
        guard weight.rank == 2 else { throw ModelError.invalidParameter("a Linear weight is (out, in), got \(weight.shape)") }
        let blocks = try GGUFLinear.blocks(quantizing: weight, format: format)
        try self.init(blocks: weight.device == .cpu ? blocks : blocks.moved(to: weight.backend), format: format,
                      inFeatures: weight.shape[1], outFeatures: weight.shape[0], bias: bias)
    }

    /// `w` (rows, columns) quantised to `format` on the host: u8 [rows, rowBytes].
    static func blocks(quantizing w: Tensor, format: BlockQuantFormat) throws -> Tensor {
        let x = (w.device == .cpu ? w : w.moved(to: CPUBackend.shared)).to(.f32).contiguous()
        let rows = w.shape[0], columns = w.shape[1]
        guard columns % format.blockSize == 0 else {
            throw ModelError.invalidParameter("a \(format.rawValue) Linear needs whole blocks of \(format.blockSize) inputs, not \(columns)")
        }
        let out = CPUBackend.shared.empty([rows, format.rowBytes(columns: columns)], .u8)
        try GGUFQuantize.quantize(GGMLType(format), from: x.rawPointer.assumingMemoryBound(to: Float.self), count: rows * columns,
                                  into: out.rawPointer)
        return out
    }

    /// The weight dequantised to f32 in host memory (ggml's values exactly).
    public func dequantizedWeight() -> Tensor {
        let host = blocks.device == .cpu ? blocks : blocks.moved(to: CPUBackend.shared)
        return try! GGUFBlockLinear(type: GGMLType(format), blocks: host, rows: outFeatures, columns: inFeatures).dequantized()
    }

    /// Bias first, as `Linear`. A visitor may move the blocks (same bytes, another memory).
    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("bias", &bias)
        let before = blocks
        try v.parameter("weight", &blocks)
        if blocks.dtype != .u8 || blocks.count != before.count {
            blocks = before
            throw ModelError.invalidParameter("the \(format.rawValue) blocks of a GGUF Linear can be moved, not converted (got \(blocks.dtype) \(blocks.shape))")
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if onHost(x) {
            // Quant's kernel checks the sizes `init` already checked: it cannot throw here.
            let layer = try! GGUFBlockLinear(type: GGMLType(format), blocks: blocks, rows: outFeatures, columns: inFeatures, bias: bias)
            return layer(x)
        }
        if let y = fp8Forward(x, gelu: false) { return y }
        return linear(x, weight: denseWeight(like: x), bias: bias)
    }

    public func geluTanh(_ x: Tensor) -> Tensor {
        if onHost(x) { return gelu(self(x), approximate: .tanh) }
        if let y = fp8Forward(x, gelu: true) { return y }
        return linearGeluTanh(x, weight: denseWeight(like: x), bias: bias)
    }

    public func concatGeluTanh(_ prefix: Tensor, _ x: Tensor) -> Tensor {
        if onHost(x) { return concat([prefix, geluTanh(x)], dim: -1) }
        if let y = fp8ConcatGeluTanh(prefix, x) { return y }
        return concatLinearGeluTanh(prefix, x, weight: denseWeight(like: x), bias: bias)
    }

    /// True when Quant's host kernel runs: blocks and input in host memory and the blocks' backend
    /// does not expand blocks itself (a test backend in host memory may).
    func onHost(_ x: Tensor) -> Bool {
        blocks.device == .cpu && x.device == .cpu && !(blocks.backend is any BlockDequantizing)
    }

    /// Output rows are independent in every ggml format: a slice of rows is a slice of the blocks.
    public func rows(_ start: Int, _ end: Int) -> (any LinearLayer)? {
        guard var part = try? GGUFLinear(blocks: blocks.slice(dim: 0, start: start, end: end), format: format, inFeatures: inFeatures,
                                         outFeatures: end - start, bias: bias?.slice(dim: 0, start: start, end: end)) else { return nil }
        part.computesInFP8 = computesInFP8
        part.fp8RowScales = fp8RowScales
        part.geluScale = geluScale
        part.inputScale = inputScale
        return part
    }

    /// The dense (out, in) weight in x's float dtype where the blocks are: expanded by the backend
    /// (`BlockDequantizing`), else decoded on the host and uploaded.
    public func denseWeight(like x: Tensor) -> Tensor {
        let dtype = x.dtype.isFloatingPoint ? x.dtype : .f32
        if let b = blocks.backend as? any BlockDequantizing {
            return b.dequantizeBlocks(blocks, format: format, rows: outFeatures, columns: inFeatures, dtype: dtype)
        }
        let w = dequantizedWeight().to(dtype)
        return blocks.device == .cpu ? w : w.moved(to: blocks.backend)
    }
}
