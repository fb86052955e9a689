import Foundation
import Quant
import Tensor

/// A new backend as a contributor would add one, without touching Models: it wraps the CPU backend
/// (results bit for bit the CPU's) and adopts the optional capabilities Models looks for:
/// - `AsyncUploading` with real ordering: a copy is only queued by `uploadAsync` and runs when some
///   thread waits on its fence (`computeWait`/`hostWait`), so a streamer that reads a slot without
///   waiting for its copy computes with stale weights and the picture shows it;
/// - `AsyncDownloading` likewise: the copy back lands only when its fence is waited on;
/// - `DeviceMemoryInfo`: counts the bytes of its own live allocations (device used = reserved);
/// - `FP8GEMM`: e4m3 codes with a per-tensor scale, multiplied by dequantising on the CPU (activations
///   quantised per tensor first, as CUDA's tensor-core path does, for weights with one scale);
/// - `BlockDequantizing`: ggml blocks expanded with Quant's dequantiser.
/// It does not adopt `FusedGEMMEpilogue` (its GEMM is the CPU's; `FusedCapabilityTestBackend` does) or
/// `WeightDTypePreferring`.
// unchecked: the counters, `limit`, `sharing` and the copy queue `pending` are only touched under `lock` (NSLock); `base` is a `let`.
class CapabilityTestBackend: Backend, @unchecked Sendable {
    let base = CPUBackend.shared
    private let lock = NSLock()
    private var live = 0, peak = 0, windowPeak = 0
    private var pending: [(source: UnsafeRawPointer, count: Int, storage: Storage, offset: Int, done: QueueFence, keep: Tensor?)] = []
    private var copies = 0, fp8Count = 0, blockCount = 0, quantizeCount = 0, attentionE4M3Count = 0, limit: Int?
    private var sharing = true
    /// Calls of `dequantizeBlocks` (GGUF Linears expanded by the backend).
    var blockExpansions: Int { locked { blockCount } }
    /// Queued copies that have run (on a fence wait).
    var copiesRun: Int { locked { copies } }
    /// Calls of the emulated fp8 GEMM.
    var fp8Calls: Int { locked { fp8Count } }
    /// Calls of the attention calls that hand fp8 GEMMs their input (`qkNormRoPEAttentionE4M3`,
    /// `fp8AttentionConcatLinearGeluTanhE4M3`).
    var attentionE4M3Calls: Int { locked { attentionE4M3Count } }
    /// Activations (and weights) quantised per tensor (`quantizeTensorE4M3`).
    var quantizations: Int { locked { quantizeCount } }
    /// `FP8GEMM.sharesQuantizedActivations` (default true).
    var sharesQuantizedActivations: Bool {
        get { locked { sharing } }
        set { locked { sharing = newValue } }
    }
    /// Recorded only (host memory is not capped).
    var allocatorLimit: Int? {
        get { locked { limit } }
        set { locked { limit = newValue } }
    }

    fileprivate func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    var device: Device { .cpu }
    var name: String { "test (capabilities)" }
    func takeFault() -> (any Error)? { nil }

    private func count(_ bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        live += bytes
        peak = max(peak, live)
        windowPeak = max(windowPeak, live)
    }

    /// Host memory of `s` owned (and counted) here.
    private func own(_ s: Storage, byteCount: Int) -> Storage {
        count(byteCount)
        return Storage(pointer: s.pointer, byteCount: byteCount, backend: self, owner: s,
                       release: { [weak self] _ in self?.count(-byteCount) })
    }

    /// A base-backend result re-homed here, so the next op on it comes back through this backend.
    fileprivate func adopt(_ t: Tensor) -> Tensor {
        if t.storage.backend === self { return t }
        return Tensor(storage: own(t.storage, byteCount: t.storage.byteCount), dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset)
    }

    func allocate(byteCount: Int) -> Storage { own(base.allocate(byteCount: byteCount), byteCount: byteCount) }
    func upload(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int) {
        (storage.pointer + byteOffset).copyMemory(from: source, byteCount: count)
    }
    func download(_ storage: Storage, byteOffset: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        destination.copyMemory(from: storage.pointer + byteOffset, byteCount: count)
    }
    func contiguous(_ x: Tensor) -> Tensor { adopt(base.contiguous(x)) }
    func convert(_ x: Tensor, to dtype: DType) -> Tensor { adopt(base.convert(x, to: dtype)) }
    func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor { adopt(base.unary(op, x)) }
    func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor { adopt(base.binary(op, a, b)) }
    func affine(_ x: Tensor, scale: Float, shift: Float) -> Tensor { adopt(base.affine(x, scale: scale, shift: shift)) }
    func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { adopt(base.matmul(a, b)) }
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor { adopt(base.linear(x, weight: weight, bias: bias)) }
    func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int], keepDims: Bool) -> Tensor { adopt(base.reduce(op, x, dims: dims, keepDims: keepDims)) }
    func softmax(_ x: Tensor, dim: Int) -> Tensor { adopt(base.softmax(x, dim: dim)) }
    func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor { adopt(base.layerNorm(x, weight: weight, bias: bias, eps: eps)) }
    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor { adopt(base.rmsNorm(x, weight: weight, eps: eps)) }
    func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        adopt(base.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps))
    }
    func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        adopt(base.groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps))
    }
    func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int) -> Tensor {
        adopt(base.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups))
    }
    func upsampleNearest2x(_ x: Tensor) -> Tensor { adopt(base.upsampleNearest2x(x)) }
    func embedding(_ table: Tensor, indices: Tensor) -> Tensor { adopt(base.embedding(table, indices: indices)) }
    func concat(_ xs: [Tensor], dim: Int) -> Tensor { adopt(base.concat(xs, dim: dim)) }
    func attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor?, scale: Float) -> Tensor {
        adopt(base.attention(q: q, k: k, v: v, mask: mask, scale: scale))
    }
    func rotaryEmbedding(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor { adopt(base.rotaryEmbedding(x, cos: cos, sin: sin)) }
}

extension CapabilityTestBackend: AsyncUploading {
    func hostBuffer(byteCount: Int) throws -> Storage { base.allocate(byteCount: byteCount) }
    func allocatePersistent(byteCount: Int) throws -> Storage { allocate(byteCount: byteCount) }
    func makeFence() -> QueueFence { QueueFence(handle: nil, destroy: nil) }
    func recordCompute(_ fence: QueueFence) {}  // compute is synchronous: a recorded point has passed
    func computeWait(_ fence: QueueFence) { runCopies(through: fence) }
    func hostWait(_ fence: QueueFence) { runCopies(through: fence) }
    func uploadAsync(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int,
                     after: QueueFence?, done: QueueFence) {
        lock.lock(); defer { lock.unlock() }
        pending.append((source, count, storage, byteOffset, done, nil))
    }

    /// Runs the queued copies in order up to the last one that records `fence` (none if no queued
    /// copy records it: that fence has passed).
    private func runCopies(through fence: QueueFence) {
        // Released after unlocking: a kept download source frees its storage, which counts itself
        // out under the same lock.
        var ran: [(source: UnsafeRawPointer, count: Int, storage: Storage, offset: Int, done: QueueFence, keep: Tensor?)] = []
        do {
            lock.lock(); defer { lock.unlock() }
            guard let last = pending.lastIndex(where: { $0.done === fence }) else { return }
            ran = Array(pending[...last])
            for c in ran { (c.storage.pointer + c.offset).copyMemory(from: c.source, byteCount: c.count) }
            copies += last + 1
            pending.removeFirst(last + 1)
        }
    }
}

extension CapabilityTestBackend: DeviceMemoryInfo {
    var deviceUsedBytes: Int { lock.lock(); defer { lock.unlock() }; return live }
    var reservedBytes: Int { deviceUsedBytes }
    func emptyCache() {}
    func takeWindowPeakDeviceUsed() -> Int {
        lock.lock(); defer { lock.unlock() }
        defer { windowPeak = live }
        return windowPeak
    }
    var peakDeviceUsedBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }
}

extension CapabilityTestBackend: FP8GEMM {
    func quantizeTensorE4M3(_ x: Tensor) -> (codes: Tensor, scale: Tensor) {
        locked { quantizeCount += 1 }
        let amax = x.to(.f32).floats().reduce(Float(0)) { max($0, abs($1)) }
        let s = amax > 0 ? amax / 448 : 1
        let codes = (x.to(.f32) * (1 / s)).to(.f8e4m3fn)
        return (codes, Tensor([s], shape: [1]).moved(to: self))
    }

    func fp8Linear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool, into: Tensor?, ldc: Int?) -> Tensor {
        precondition(into == nil, "the test backend writes no output views")
        if scale.count == 1 { return fp8Linear(quantizeActivation(x), codes: codes, scale: scale, bias: bias, gelu: gelu) }
        locked { fp8Count += 1 }
        return dequantisingLinear(x, codes: codes, scale: scale, bias: bias, gelu: gelu)
    }

    func fp8Linear(_ q: QuantizedActivation, codes: Tensor, scale: Tensor, bias: Tensor?, gelu: Bool) -> Tensor {
        locked { fp8Count += 1 }
        let x = (q.codes.to(.f32) * q.scale.reshaped([1, 1])).reshaped(q.shape)
        return dequantisingLinear(x, codes: codes, scale: scale, bias: bias, gelu: gelu)
    }

    func fp8ConcatLinearGeluTanh(_ prefix: Tensor, _ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?) -> Tensor {
        joined([prefix, fp8Linear(x, codes: codes, scale: scale, bias: bias, gelu: true, into: nil, ldc: nil)], dim: prefix.rank - 1)
    }

    // The composed forms, counted.
    func qkNormRoPEAttentionE4M3(_ qkv: [Tensor], heads: Int, queryWeights: [Tensor], keyWeights: [Tensor],
                                 cos: Tensor, sin: Tensor, eps: Float) -> [QuantizedActivation] {
        locked { attentionE4M3Count += 1 }
        return composedQKNormRoPEAttentionE4M3(qkv, heads: heads, queryWeights: queryWeights, keyWeights: keyWeights, cos: cos, sin: sin, eps: eps)
    }

    func fp8AttentionConcatLinearGeluTanhE4M3(attention qkv: Tensor, heads: Int, queryWeight: Tensor, keyWeight: Tensor,
                                              cos: Tensor, sin: Tensor, eps: Float, _ q: QuantizedActivation,
                                              codes: Tensor, scale: Tensor, bias: Tensor?,
                                              delayed: DelayedE4M3Scale?) -> QuantizedActivation {
        locked { attentionE4M3Count += 1 }
        return composedFP8AttentionConcatLinearGeluTanhE4M3(attention: qkv, heads: heads, queryWeight: queryWeight, keyWeight: keyWeight,
                                                            cos: cos, sin: sin, eps: eps, q, codes: codes, scale: scale, bias: bias)
    }
}

/// x (codes * scale)^T + b [-> tanh-GELU], the weight dequantised to f32 first.
private func dequantisingLinear(_ x: Tensor, codes: Tensor, scale: Tensor, bias: Tensor?, gelu g: Bool) -> Tensor {
    let s = scale.count == 1 ? scale.reshaped([1, 1]) : scale.reshaped([scale.count, 1])
    let y = linear(x, weight: codes.to(.f32) * s, bias: bias)
    return g ? gelu(y, approximate: .tanh) : y
}

private func joined(_ xs: [Tensor], dim: Int) -> Tensor { concat(xs, dim: dim) }

/// The test backend with `FusedGEMMEpilogue` (its composed defaults): Flux single blocks then run
/// linear1 as two GEMMs, the form CUDA runs; and `BlockFP8Expanding` (GGUF blocks to e4m3 with
/// Quant's dequantiser, not counted in `quantizations`), as an fp8 GPU has.
final class FusedCapabilityTestBackend: CapabilityTestBackend, FusedGEMMEpilogue, @unchecked Sendable {}

extension FusedCapabilityTestBackend: BlockFP8Expanding {
    var expandsBlocksToFP8: Bool { true }

    func blocksToE4M3(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int, scale known: Tensor?,
                      perRow: Bool) -> (codes: Tensor, scale: Tensor) {
        let w = dequantizeBlocks(blocks, format: format, rows: rows, columns: columns, dtype: .f32).floats()
        let given = known?.floats()
        func amaxScale(_ v: ArraySlice<Float>) -> Float {
            let amax = v.reduce(Float(0)) { max($0, abs($1)) }
            return amax > 0 ? amax / 448 : 1
        }
        let scales = perRow ? (0..<rows).map { r in given?[r] ?? amaxScale(w[(r * columns)..<((r + 1) * columns)]) }
                            : [given?[0] ?? amaxScale(w[...])]
        let scaled = w.indices.map { w[$0] * (1 / scales[perRow ? $0 / columns : 0]) }
        return (Tensor(scaled, shape: [rows, columns]).to(.f8e4m3fn).moved(to: self), Tensor(scales, shape: [scales.count]).moved(to: self))
    }
}

extension CapabilityTestBackend: BlockDequantizing {
    /// Expands ggml blocks with Quant's dequantiser (ggml's values), rounded once to `dtype`, as the
    /// CUDA backend's kernel does on the device.
    func dequantizeBlocks(_ blocks: Tensor, format: BlockQuantFormat, rows: Int, columns: Int, dtype: DType) -> Tensor {
        locked { blockCount += 1 }
        // The blocks are host memory here (the base backend's): Quant reads them in place.
        let layer = try! GGUFBlockLinear(type: GGMLType(format), blocks: blocks, rows: rows, columns: columns)
        return adopt(layer.dequantized().to(dtype))
    }
}

extension CapabilityTestBackend: AsyncDownloading {
    func downloadAsync(_ tensor: Tensor, done: QueueFence) -> Tensor {
        let t = tensor.contiguous()
        let host = base.allocate(byteCount: Swift.max(1, t.count * t.dtype.byteSize))
        // Garbage until the fence is waited on, as a device's copy would be.
        host.pointer.initializeMemory(as: UInt8.self, repeating: 0xFF, count: host.byteCount)
        lock.lock(); defer { lock.unlock() }
        pending.append((UnsafeRawPointer(t.storage.pointer) + t.offset * t.dtype.byteSize, t.count * t.dtype.byteSize, host, 0, done, t))
        return Tensor(storage: host, dtype: t.dtype, shape: t.shape)
    }
}
