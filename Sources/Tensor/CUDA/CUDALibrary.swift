#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A shared library opened at run time with `dlopen`, so the package needs no CUDA SDK to build.
final class CUDALibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let path: String

    /// Opens the first of `names` that loads (plain names go through the dynamic linker's search path).
    init?(_ names: [String]) {
        for name in names {
            if let h = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
                handle = h
                path = name
                return
            }
        }
        return nil
    }

    /// The symbol `name` cast to the function type `T`; throws naming the symbol when missing.
    func symbol<T>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let p = dlsym(handle, name) else { throw CUDAError.missingSymbol(name, library: path) }
        return unsafeBitCast(p, to: T.self)
    }
}

/// Errors of the CUDA backend.
public enum CUDAError: Error, CustomStringConvertible {
    case unavailable(String)
    case missingSymbol(String, library: String)
    case driver(String, Int32)
    case compile(String)
    case cublas(String, Int32)

    public var description: String {
        switch self {
        case .unavailable(let why): return "CUDA unavailable: \(why)"
        case .missingSymbol(let s, let lib): return "CUDA: symbol \(s) not found in \(lib)"
        case .driver(let call, let code): return "CUDA driver call \(call) failed with error \(code)"
        case .compile(let log): return "NVRTC compilation failed:\n\(log)"
        case .cublas(let call, let code): return "cuBLASLt call \(call) failed with status \(code)"
        }
    }
}

/// Library names tried for each CUDA component, newest first. `MAJICFLUX_CUDA_LIB_DIR` may name a
/// folder tried before the system search path (e.g. NVIDIA's pip wheels' lib folder).
enum CUDALibraryNames {
    static func candidates(_ base: String, versions: [String]) -> [String] {
        var names: [String] = []
        let dirs = [getenv("MAJICFLUX_CUDA_LIB_DIR").map { String(cString: $0) }].compactMap { $0 }
        for dir in dirs { for v in versions { names.append("\(dir)/\(base).so.\(v)") } }
        for v in versions { names.append("\(base).so.\(v)") }
        names.append("\(base).so")
        return names
    }
    static var driver: [String] { candidates("libcuda", versions: ["1"]) }
    static var nvrtc: [String] { candidates("libnvrtc", versions: ["13", "12"]) }
    static var cublasLt: [String] { candidates("libcublasLt", versions: ["13", "12"]) }
}
