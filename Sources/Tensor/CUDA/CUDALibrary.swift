#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A shared library opened at run time with `dlopen`, so the package needs no CUDA SDK to build.
// unchecked: only `let`s: a dlopen handle (closed in deinit) and its path.
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
        case .driver(let call, let code): return "CUDA driver call \(call) failed: \(Self.resultName(code)) (\(code))"
        case .compile(let log): return "NVRTC compilation failed:\n\(log)"
        case .cublas(let call, let code): return "cuBLASLt call \(call) failed: \(Self.cublasStatusName(code)) (\(code))"
        }
    }

    /// The CUresult name of `code` (cuda.h), e.g. 201 -> "CUDA_ERROR_INVALID_CONTEXT": messages name
    /// the real cause (an invalid context is not "out of memory").
    public static func resultName(_ code: Int32) -> String {
        switch code {
        case 0: return "CUDA_SUCCESS"
        case 1: return "CUDA_ERROR_INVALID_VALUE"
        case 2: return "CUDA_ERROR_OUT_OF_MEMORY"
        case 3: return "CUDA_ERROR_NOT_INITIALIZED"
        case 4: return "CUDA_ERROR_DEINITIALIZED"
        case 100: return "CUDA_ERROR_NO_DEVICE"
        case 101: return "CUDA_ERROR_INVALID_DEVICE"
        case 200: return "CUDA_ERROR_INVALID_IMAGE"
        case 201: return "CUDA_ERROR_INVALID_CONTEXT"
        case 209: return "CUDA_ERROR_NO_BINARY_FOR_GPU"
        case 218: return "CUDA_ERROR_INVALID_PTX"
        case 300: return "CUDA_ERROR_INVALID_SOURCE"
        case 400: return "CUDA_ERROR_INVALID_HANDLE"
        case 500: return "CUDA_ERROR_NOT_FOUND"
        case 600: return "CUDA_ERROR_NOT_READY"
        case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS"
        case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"
        case 702: return "CUDA_ERROR_LAUNCH_TIMEOUT"
        case 709: return "CUDA_ERROR_CONTEXT_IS_DESTROYED"
        case 710: return "CUDA_ERROR_ASSERT"
        case 715: return "CUDA_ERROR_ILLEGAL_INSTRUCTION"
        case 716: return "CUDA_ERROR_MISALIGNED_ADDRESS"
        case 719: return "CUDA_ERROR_LAUNCH_FAILED"
        case 999: return "CUDA_ERROR_UNKNOWN"
        default: return "CUresult \(code)"
        }
    }

    /// The cublasStatus_t name of `code` (cublas_api.h).
    public static func cublasStatusName(_ code: Int32) -> String {
        switch code {
        case 1: return "CUBLAS_STATUS_NOT_INITIALIZED"
        case 3: return "CUBLAS_STATUS_ALLOC_FAILED"
        case 7: return "CUBLAS_STATUS_INVALID_VALUE"
        case 8: return "CUBLAS_STATUS_ARCH_MISMATCH"
        case 11: return "CUBLAS_STATUS_MAPPING_ERROR"
        case 13: return "CUBLAS_STATUS_EXECUTION_FAILED"
        case 14: return "CUBLAS_STATUS_INTERNAL_ERROR"
        case 15: return "CUBLAS_STATUS_NOT_SUPPORTED"
        default: return "cublasStatus \(code)"
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
