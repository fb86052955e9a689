import Tensor

/// Hands every parameter to a closure that may replace it (moving a block into host memory or a
/// device slot, converting dtypes).
struct ParameterMapper: ModuleVisitor {
    var path: [String] = []
    let transform: (String, Tensor) throws -> Tensor
    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {
        tensor = try transform(name(key), tensor)
    }
}

/// Collects the parameters, in visiting order, with their names.
struct ParameterCollector: ModuleVisitor {
    var path: [String] = []
    var found: [(name: String, tensor: Tensor)] = []
    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {
        found.append((name(key), tensor))
    }
}

/// Offers every Linear, with its name, to a closure that may return a replacement.
struct LinearReplacer: ModuleVisitor {
    var path: [String] = []
    let replace: (String, any LinearLayer) throws -> (any LinearLayer)?
    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {}
    mutating func linear(_ key: String, _ layer: inout any LinearLayer) throws {
        if let new = try replace(name(key), layer) { layer = new } else { try child(key, &layer) }
    }
}

extension Module {
    /// A copy with every parameter `t` (named from this module) replaced by `f(name, t)`, visited in
    /// a fixed order. Throws when a layer cannot give its tensors up (CPU-quantized codes).
    public func mapParameters(_ f: (String, Tensor) throws -> Tensor) throws -> Self {
        var copy = self
        try withoutActuallyEscaping(f) { f in
            var v = ParameterMapper(transform: f)
            try copy.visit(&v)
        }
        return copy
    }

    /// The parameters in visiting order, with their names relative to this module.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var copy = self
        var v = ParameterCollector()
        try? copy.visit(&v)
        return v.found
    }

    /// The parameter tensors in visiting order.
    public var parameterTensors: [Tensor] { namedParameters.map(\.tensor) }

    /// Bytes held by every parameter (quantized layers count their codes and scales).
    public var weightByteCount: Int { parameterTensors.reduce(0) { $0 + $1.byteCount } }

    /// Offers each Linear (named from this module) to `f`; a non-nil result replaces it (a quantized
    /// or adapter-wrapped layer). Linears `f` declines are searched for nested Linears.
    public mutating func replaceLinears(_ f: (String, any LinearLayer) throws -> (any LinearLayer)?) throws {
        try withoutActuallyEscaping(f) { f in
            var v = LinearReplacer(replace: f)
            try visit(&v)
        }
    }
}
