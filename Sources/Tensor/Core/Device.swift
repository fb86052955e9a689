/// Where a tensor's buffer lives.
public enum Device: Hashable, Sendable, CustomStringConvertible {
    case cpu
    /// A CUDA device by ordinal.
    case cuda(Int)

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let i): return "cuda:\(i)"
        }
    }
}
