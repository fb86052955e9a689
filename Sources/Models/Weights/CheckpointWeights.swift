import Tensor

/// A safetensors checkpoint (single file, sharded `*.index.json`, or a folder holding either) as a
/// `WeightSource`. Tensors are zero-copy views of the memory-mapped files.
public final class CheckpointWeights: WeightSource {
    public let checkpoint: SafeTensorsCheckpoint

    /// Opens `path` (reads only headers; tensor data stays on disk until touched).
    public init(path: String) throws { checkpoint = try SafeTensorsCheckpoint(path: path) }

    /// Over a checkpoint already open.
    public init(checkpoint: SafeTensorsCheckpoint) { self.checkpoint = checkpoint }

    public var names: [String] { checkpoint.names }
    public func shape(of name: String) -> [Int]? { try? checkpoint.info(named: name).shape }
    public func tensor(_ name: String) throws -> Tensor { try checkpoint.tensor(named: name) }
    public func dtype(of name: String) -> DType? { try? checkpoint.info(named: name).dtype }
    public var metadata: [String: String] { checkpoint.metadata.compactMapValues(\.string) }
}
