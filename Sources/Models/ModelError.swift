/// Errors raised while loading or running models. Each names the file or component at fault.
public enum ModelError: Error, CustomStringConvertible {
    /// A required file is missing.
    case missingFile(path: String, what: String)
    /// A config file exists but is unreadable or inconsistent.
    case badConfig(path: String, reason: String)
    /// Checkpoint tensors missing, unexpected or of the wrong shape.
    case weights(component: String, problems: [String])
    /// A parameter outside what the model supports.
    case invalidParameter(String)
    /// The caller cancelled the run through a progress callback.
    case cancelled

    public var description: String {
        switch self {
        case .missingFile(let path, let what): return "missing \(what): \(path)"
        case .badConfig(let path, let reason): return "bad config \(path): \(reason)"
        case .weights(let component, let problems):
            let shown = problems.prefix(20).joined(separator: "\n  ")
            let more = problems.count > 20 ? "\n  ... and \(problems.count - 20) more" : ""
            return "\(component) weights do not match the model:\n  \(shown)\(more)"
        case .invalidParameter(let s): return "invalid parameter: \(s)"
        case .cancelled: return "cancelled"
        }
    }
}
