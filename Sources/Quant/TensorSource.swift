import Tensor

/// Read access to a set of named tensors (a safetensors file, a sharded checkpoint, a dictionary).
/// Checkpoint readers and the quantize converter work through this protocol.
public protocol TensorSource: AnyObject {
    /// Tensor names in file order.
    var tensorNames: [String] { get }
    /// dtype and shape of `name` without reading its data.
    func tensorInfo(named name: String) throws -> (dtype: DType, shape: [Int])
    /// The tensor `name` (zero-copy where possible).
    func tensor(named name: String) throws -> Tensor
    /// The file's `__metadata__` (string values).
    var metadataStrings: [String: String] { get }
    /// A description for error messages (usually the path).
    var sourceDescription: String { get }
    /// The files the tensors are read from (empty for tensors in memory): an output must not be one.
    var filePaths: [String] { get }
}

extension TensorSource {
    public var filePaths: [String] { [] }
}

/// A `TensorSource` over tensors held in memory.
public final class InMemoryTensorSource: TensorSource {
    public let tensorNames: [String]
    private let tensors: [String: Tensor]
    public let metadataStrings: [String: String]
    public let sourceDescription: String

    /// `tensors` in the given order; `metadata` plays the role of `__metadata__`.
    public init(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], description: String = "<memory>") {
        tensorNames = tensors.map(\.0)
        self.tensors = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
        metadataStrings = metadata
        sourceDescription = description
    }

    public func tensorInfo(named name: String) throws -> (dtype: DType, shape: [Int]) {
        let t = try tensor(named: name)
        return (t.dtype, t.shape)
    }

    public func tensor(named name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw TensorError.missingTensor(name: name, path: sourceDescription) }
        return t
    }
}
