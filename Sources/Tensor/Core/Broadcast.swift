/// numpy / PyTorch broadcasting rules.
public enum Broadcast {
    /// The shape two shapes broadcast to, or nil when they are incompatible.
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else { return nil }
        }
        return out
    }

    /// Expands both tensors to their common shape (views, no copy). Traps with both shapes named if incompatible.
    public static func expand(_ a: Tensor, _ b: Tensor) -> (Tensor, Tensor) {
        guard let s = shape(a.shape, b.shape) else {
            preconditionFailure("cannot broadcast shapes \(a.shape) and \(b.shape)")
        }
        return (a.shape == s ? a : a.expanded(s), b.shape == s ? b : b.expanded(s))
    }
}
