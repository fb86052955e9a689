import Tensor

/// A layer or model. It names each parameter and child once, with its checkpoint key: loading, the
/// missing/unexpected/mis-shaped report, enumeration, byte counts, streaming, quantization and
/// linear-layer replacement are all visitors over this one declaration (docs/ARCHITECTURE.md).
///
/// A layer is built from its config with placeholder parameters of the expected shapes (zero-cost
/// broadcast scalars, `Tensor.placeholder`); `ModuleLoading` then fills them from a checkpoint.
public protocol Module {
    /// Visits every parameter and child in a fixed order, each with its key relative to this module.
    /// A visitor may replace what it is handed (loading, moving to a device slot, swapping a Linear).
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws
}

/// Something that walks modules: it is handed every parameter, child and Linear with its key.
public protocol ModuleVisitor {
    /// Keys from the root to the module being visited (joined with "." they prefix checkpoint names).
    var path: [String] { get set }
    /// A parameter the module always has.
    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws
    /// A parameter the module may lack (a Linear without bias); by default visited when present.
    mutating func parameter(_ key: String, _ tensor: inout Tensor?) throws
    /// A child module; by default pushes `key`, visits the child, pops.
    mutating func child<M: Module>(_ key: String, _ module: inout M) throws
    /// A list of children keyed "0", "1", ... under `key`; by default each visited as a child.
    mutating func children<M: Module>(_ key: String, _ modules: inout [M]) throws
    /// A swappable Linear; by default visited as a child (the existential opened).
    mutating func linear(_ key: String, _ layer: inout any LinearLayer) throws
}

extension ModuleVisitor {
    public mutating func parameter(_ key: String, _ tensor: inout Tensor?) throws {
        guard var t = tensor else { return }
        try parameter(key, &t)
        tensor = t
    }

    public mutating func child<M: Module>(_ key: String, _ module: inout M) throws {
        path.append(key)
        defer { path.removeLast() }
        try module.visit(&self)
    }

    public mutating func children<M: Module>(_ key: String, _ modules: inout [M]) throws {
        path.append(key)
        defer { path.removeLast() }
        for i in modules.indices { try child(String(i), &modules[i]) }
    }

    public mutating func linear(_ key: String, _ layer: inout any LinearLayer) throws {
        try child(key, &layer)
    }

    /// The checkpoint name of `key` in the module being visited (`path` and `key` joined by ".").
    public func name(_ key: String) -> String { (path + [key]).joined(separator: ".") }
}

extension Optional: Module where Wrapped: Module {
    /// An optional child (Flux's guidance embedder): visited when present.
    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        guard var m = self else { return }
        try m.visit(&v)
        self = m
    }
}

extension Array: Module where Element: Module {
    /// A list of modules keyed "0", "1", ... (as `ModuleVisitor.children` visits one).
    public mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        for i in indices { try v.child(String(i), &self[i]) }
    }
}

extension Tensor {
    /// A zero tensor of `shape` that allocates nothing (a broadcast scalar): a layer's parameter
    /// before it is loaded. Negative sizes (an unchecked config) become 0.
    public static func placeholder(_ shape: [Int], backend: any Backend = CPUBackend.shared) -> Tensor {
        Tensor.scalar(0, backend: backend).expanded(shape.map { Swift.max(0, $0) })
    }
}
