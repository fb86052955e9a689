import Tensor

/// How one canonical tensor is made from tensors of another checkpoint layout.
public enum WeightRecipe: Sendable, Equatable {
    /// The same tensor under another name.
    case rename(String)
    /// Several tensors concatenated along dim 0 (e.g. separate q, k, v into a fused qkv).
    case concat([String])
    /// The two halves along dim 0 swapped (diffusers' final (scale, shift) vs BFL (shift, scale)).
    case swapHalves(String)
    /// The same elements in another shape (a Linear stored where a 1x1 conv is expected).
    case reshape(String, [Int])
}

/// A `WeightSource` that presents another source under canonical names. Source tensors that no
/// recipe uses are passed through under their own names, so a loader reports them as unexpected.
public final class MappedWeights: WeightSource {
    public let base: WeightSource
    public let recipes: [String: WeightRecipe]
    private let passthrough: [String]

    public init(_ base: WeightSource, recipes: [String: WeightRecipe]) {
        self.base = base
        self.recipes = recipes
        var used = Set<String>()
        for r in recipes.values {
            switch r {
            case .rename(let n), .swapHalves(let n), .reshape(let n, _): used.insert(n)
            case .concat(let ns): used.formUnion(ns)
            }
        }
        passthrough = base.names.filter { !used.contains($0) && recipes[$0] == nil }
    }

    /// Canonical names whose sources exist, plus unused source names.
    public var names: [String] { recipes.keys.filter { shape(of: $0) != nil } + passthrough }
    public var metadata: [String: String] { base.metadata }

    public func storedNames(of name: String) -> [String]? {
        guard let r = recipes[name] else { return base.storedNames(of: name) }
        let sources: [String]
        switch r {
        case .rename(let n), .swapHalves(let n), .reshape(let n, _): sources = [n]
        case .concat(let ns): sources = ns
        }
        return sources.flatMap { base.storedNames(of: $0) ?? [$0] }
    }

    public func shape(of name: String) -> [Int]? {
        guard let r = recipes[name] else { return base.shape(of: name) }
        switch r {
        case .rename(let n), .swapHalves(let n): return base.shape(of: n)
        case .reshape(let n, let s):
            guard let src = base.shape(of: n), src.reduce(1, *) == s.reduce(1, *) else { return nil }
            return s
        case .concat(let ns):
            let shapes = ns.compactMap(base.shape(of:))
            guard shapes.count == ns.count, let first = shapes.first, !first.isEmpty,
                  shapes.allSatisfy({ !$0.isEmpty && Array($0.dropFirst()) == Array(first.dropFirst()) }) else { return nil }
            return [shapes.map { $0[0] }.reduce(0, +)] + first.dropFirst()
        }
    }

    public func dtype(of name: String) -> DType? {
        guard let r = recipes[name] else { return base.dtype(of: name) }
        switch r {
        case .rename(let n), .swapHalves(let n), .reshape(let n, _): return base.dtype(of: n)
        case .concat(let ns): return ns.first.flatMap(base.dtype(of:))
        }
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let r = recipes[name] else { return try base.tensor(name) }
        switch r {
        case .rename(let n): return try base.tensor(n)
        case .reshape(let n, let s): return try base.tensor(n).reshaped(s)
        case .swapHalves(let n):
            let t = try base.tensor(n)
            guard t.rank >= 1, t.shape[0] % 2 == 0 else {
                throw TensorError.shapeMismatch("\(n): shape \(t.shape) has no two equal halves along its first dimension")
            }
            let halves = t.chunked(2, dim: 0)
            return concat([halves[1], halves[0]], dim: 0)
        case .concat(let ns):
            guard shape(of: name) != nil else {
                throw TensorError.shapeMismatch("\(name): \(ns) cannot be concatenated (missing, rank 0 or shapes that differ past the first dimension)")
            }
            let parts = try ns.map { try base.tensor($0) }
            let fused = concat(parts, dim: 0)
            // The parts' mapped pages are not read again: keep them out of the resident set.
            parts.forEach(MappedFile.releaseResidentPages(of:))
            return fused
        }
    }
}

/// A view of a source with a key prefix removed (ComfyUI's `model.diffusion_model.`), or a subset
/// of keys under a prefix (a single file holding several components).
public final class PrefixedWeights: WeightSource {
    public let base: WeightSource
    public let prefix: String
    private let stripped: [String: String]

    /// Keeps only names starting with `prefix`, presented without it.
    public init(_ base: WeightSource, prefix: String) {
        self.base = base
        self.prefix = prefix
        var m: [String: String] = [:]
        for n in base.names where n.hasPrefix(prefix) { m[String(n.dropFirst(prefix.count))] = n }
        stripped = m
    }

    public var names: [String] { Array(stripped.keys) }
    public var metadata: [String: String] { base.metadata }
    public func storedNames(of name: String) -> [String]? { base.storedNames(of: prefix + name) ?? [prefix + name] }
    public func shape(of name: String) -> [Int]? { stripped[name].flatMap(base.shape(of:)) }
    public func dtype(of name: String) -> DType? { stripped[name].flatMap(base.dtype(of:)) }
    public func tensor(_ name: String) throws -> Tensor {
        guard let n = stripped[name] else { throw TensorError.missingTensor(name: prefix + name, path: "checkpoint") }
        return try base.tensor(n)
    }
}
