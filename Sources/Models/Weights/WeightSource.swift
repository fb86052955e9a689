import Tensor

/// Anything that hands out named tensors: a safetensors file, a sharded folder, a renaming view, a
/// dictionary in a test. Model code only ever sees canonical names through a `WeightLoader`.
public protocol WeightSource: AnyObject {
    /// Every tensor name available.
    var names: [String] { get }
    /// Shape of a tensor without reading its data; nil when absent.
    func shape(of name: String) -> [Int]?
    /// The tensor (a view of mapped memory where possible).
    func tensor(_ name: String) throws -> Tensor
    /// Element type of a tensor without reading its data; nil when absent.
    func dtype(of name: String) -> DType?
    /// The checkpoint's string metadata (safetensors `__metadata__`: e.g. how its int4 layers are
    /// packed); empty for sources without any.
    var metadata: [String: String] { get }
    /// The names in the file a canonical `name` is read from, for messages about a missing tensor
    /// (a diffusers file lacking `norm_out.linear.weight` was reported by its BFL name); nil when the
    /// source stores names as they are.
    func storedNames(of name: String) -> [String]?
}

extension WeightSource {
    public var metadata: [String: String] { [:] }
    public func storedNames(of name: String) -> [String]? { nil }
}

/// Tensors held in memory, by name. Handy for tests and for weights made on the fly.
public final class DictionaryWeights: WeightSource {
    public private(set) var tensors: [String: Tensor]
    public init(_ tensors: [String: Tensor]) { self.tensors = tensors }
    public var names: [String] { Array(tensors.keys) }
    public func shape(of name: String) -> [Int]? { tensors[name]?.shape }
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw TensorError.missingTensor(name: name, path: "<memory>") }
        return t
    }
    public func dtype(of name: String) -> DType? { tensors[name]?.dtype }
}
