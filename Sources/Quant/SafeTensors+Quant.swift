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
import Tensor

/// safetensors checkpoints (single file, index or folder) as a `TensorSource`.
extension SafeTensorsCheckpoint: TensorSource {
    public var tensorNames: [String] { names }

    public func tensorInfo(named name: String) throws -> (dtype: DType, shape: [Int]) {
        let i = try info(named: name)
        return (i.dtype, i.shape)
    }

    /// The string values of the file's `__metadata__` (or of an index's `metadata`).
    public var metadataStrings: [String: String] {
        var out: [String: String] = [:]
        for (k, v) in metadata { if let s = v.string { out[k] = s } }
        return out
    }

    public var sourceDescription: String { path }

    /// The shard files and the index, if any.
    public var filePaths: [String] { shardPaths + (indexPath.map { [$0] } ?? []) }
}

extension QuantizedCheckpoint {
    /// Opens a safetensors checkpoint (file, `*.index.json` or folder) for reading quantized weights.
    public convenience init(path: String) throws {
        try self.init(SafeTensorsCheckpoint(path: path))
    }
}

extension QuantizeConverter {
    /// Summary of a finished conversion.
    public struct Summary: Sendable {
        public let tensors: Int
        public let quantizedLayers: Int
        public let bytesWritten: Int
        public let seconds: Double
    }

    /// Streams the converted checkpoint into one safetensors file at `path` (written to a temporary
    /// name and renamed when complete). Tensors are produced one at a time in the writer's alignment
    /// order; the input pages of each finished tensor are released from memory.
    ///
    /// Before any work, throws `TensorError.io` when `path` cannot be the output: one of the input's
    /// files (by name, link or inode: the rename would replace the input), a folder, or in a missing or
    /// read-only folder (`OutputPath.check`).
    @discardableResult
    public func write(to path: String, onLayer: ((LayerReport) -> Void)? = nil) throws -> Summary {
        try OutputPath.check(path, notSameAs: checkpoint.source.filePaths)
        let start = Date()
        let declared = entries.map { SafeTensorsWriter.Entry(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        let order = SafeTensorsWriter.alignedOrder(declared)
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let writer = try SafeTensorsWriter(path: path, entries: order, metadata: metadata)
        var bytes = 0
        for e in order where e.byteCount > 0 {  // the writer skips empty tensors (the marker) itself
            let entry = byName[e.name]!
            let t = try tensor(for: entry, onLayer: onLayer)
            try writer.append(t, named: e.name)
            bytes += e.byteCount
            switch entry.kind {
            case .copy: Self.releasePages(of: t)
            case .weight(let layer), .scale(let layer):
                // Scales come first in the aligned order: their absmax pass reads the whole weight too.
                if let w = try? checkpoint.source.tensor(named: layer + ".weight") { Self.releasePages(of: w) }
            case .marker: break
            }
        }
        try writer.finish()
        return Summary(tensors: order.count, quantizedLayers: quantizedLayerCount, bytesWritten: bytes,
                       seconds: Date().timeIntervalSince(start))
    }

    /// Drops the resident pages of a tensor that views a read-only file mapping (they are re-read from
    /// the file if touched again), so converting a 24 GB checkpoint does not keep it all resident.
    static func releasePages(of t: Tensor) {
        guard t.storage.owner != nil, t.device == .cpu, t.storage.byteCount > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = Int(bitPattern: t.storage.pointer) / page * page
        let hi = Int(bitPattern: t.storage.pointer) + t.storage.byteCount
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, Int32(MADV_DONTNEED))
    }
}
