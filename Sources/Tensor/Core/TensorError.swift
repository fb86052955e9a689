/// Errors thrown by tensor I/O and by operations whose inputs come from outside the program.
/// Programming errors inside the library (wrong shapes passed between layers) are preconditions.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// A file could not be opened, mapped or read.
    case io(path: String, reason: String)
    /// A file's content is not what its format promises.
    case corrupt(path: String, reason: String)
    /// A dtype name this library does not know.
    case unknownDType(path: String, name: String)
    /// A tensor name that is not present.
    case missingTensor(name: String, path: String)
    /// Shapes that cannot be combined.
    case shapeMismatch(String)
    /// An argument outside its allowed range.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .corrupt(let path, let reason): return "\(path): corrupt file: \(reason)"
        case .unknownDType(let path, let name):
            // safetensors' own types this program does not compute with, told apart from nonsense.
            let valid = ["F64", "I16", "U16", "U32", "U64", "C64", "F8_E8M0", "E8M0", "F4", "F6_E2M3", "F6_E3M2"]
            let supported = DType.allCases.map(\.safetensorsName).joined(separator: ", ")
            return valid.contains(name) ? "\(path): dtype '\(name)' is a safetensors type this program does not read (it reads \(supported)); convert the file"
                : "\(path): unknown dtype '\(name)'"
        case .missingTensor(let name, let path): return "\(path): no tensor named '\(name)'"
        case .shapeMismatch(let s): return "shape mismatch: \(s)"
        case .invalidArgument(let s): return "invalid argument: \(s)"
        }
    }
}
