/// Where a program asks to compute: the CPU, a CUDA GPU, or whichever is usable here (`auto`).
///
/// `makeBackend` turns the choice into a backend. It is the one device selection of the project:
/// the command line's `--device`, the web console and the library all go through it.
public enum ComputeDevice: Sendable, Hashable, CustomStringConvertible {
    /// CUDA device 0 when it is usable here (a GPU, the driver, NVRTC and cuBLASLt all found) and
    /// the work can run on a GPU; else the CPU. Never fails.
    case auto
    /// The CPU (`CPUBackend.shared`).
    case cpu
    /// The CUDA device with this ordinal; selection fails, saying why, when CUDA is not usable.
    case cuda(Int = 0)

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .cuda(let ordinal): return "cuda:\(ordinal)"
        }
    }

    /// The device a user names: `auto`, `cpu`, `cuda` (device 0) or `cuda:N` (N in 0...255), the
    /// inverse of `description`; nil for anything else. The one parser of device names (`--device`,
    /// `--devices`, `majicflux worker --device`).
    public init?(parsing text: String) {
        switch text {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "cuda": self = .cuda(0)
        default:
            guard text.hasPrefix("cuda:"), let n = Int(text.dropFirst(5)), (0...255).contains(n) else { return nil }
            self = .cuda(n)
        }
    }

    /// The backend for this choice.
    /// - Parameters:
    ///   - computeDType: what a GPU backend computes in and holds weights as (bf16 or f32; the CPU
    ///     always computes in f32).
    ///   - gpuCapable: whether the work can run on a GPU at all (a weight format only the CPU runs
    ///     says false): `auto` then takes the CPU. `cuda` ignores it and leaves the refusal to the
    ///     caller, which knows what cannot run there.
    /// - Throws: `ComputeDeviceError` for `cuda` when CUDA is unavailable or its setup fails.
    public func makeBackend(computeDType: DType = .bf16, gpuCapable: Bool = true) throws -> any Backend {
        switch self {
        case .cpu:
            return CPUBackend.shared
        case .auto:
            // A GPU whose setup fails (kernel compilation, context) leaves `auto` on the CPU.
            if gpuCapable, CUDABackend.unavailableReason() == nil,
               let backend = try? CUDABackend.make(ordinal: 0, computeDType: computeDType) {
                return backend
            }
            return CPUBackend.shared
        case .cuda(let ordinal):
            if let why = CUDABackend.unavailableReason() { throw ComputeDeviceError.cudaUnavailable(why) }
            do {
                return try CUDABackend.make(ordinal: ordinal, computeDType: computeDType)
            } catch {
                throw ComputeDeviceError.cudaSetupFailed(ordinal: ordinal, error)
            }
        }
    }
}

/// Why `ComputeDevice.cuda` could not give a backend.
public enum ComputeDeviceError: Error, CustomStringConvertible {
    /// No usable CUDA here; the reason (no driver, no device, no NVRTC or cuBLASLt).
    case cudaUnavailable(String)
    /// CUDA is present but the device could not be set up (bad ordinal, kernel compilation...).
    case cudaSetupFailed(ordinal: Int, any Error)

    public var description: String {
        switch self {
        case .cudaUnavailable(let why): return "CUDA is not usable here: \(why)"
        case .cudaSetupFailed(let ordinal, let error): return "CUDA device \(ordinal) could not be set up: \(error)"
        }
    }
}
