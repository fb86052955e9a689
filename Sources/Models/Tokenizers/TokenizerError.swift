/// Errors thrown while loading tokenizer files. Every case names the file it concerns.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A required file does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The file was read but its content is not what the format requires.
    case malformed(path: String, reason: String)
    /// The file is well formed but asks for a feature this implementation does not provide.
    case unsupported(path: String, feature: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "tokenizer file not found: \(path)"
        case .unreadable(let path, let reason): return "cannot read tokenizer file \(path): \(reason)"
        case .malformed(let path, let reason): return "malformed tokenizer file \(path): \(reason)"
        case .unsupported(let path, let feature): return "unsupported feature in tokenizer file \(path): \(feature)"
        }
    }
}
