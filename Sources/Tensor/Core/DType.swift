/// Element types a tensor can hold. Floating types other than `f32` are storage formats on the CPU:
/// kernels compute in `f32` and convert at the edges.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16
    /// float8 e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; max 448.
    case f8e4m3fn
    /// float8 e5m2: 1 sign, 5 exponent (bias 15), 2 mantissa bits; IEEE-like with infinities; max 57344.
    case f8e5m2
    case i8, u8, i32, i64, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .f8e4m3fn, .f8e5m2, .i8, .u8, .bool: return 1
        case .i64: return 8
        }
    }

    /// True for the floating-point types (f32, f16, bf16 and both float8 formats).
    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16, .f8e4m3fn, .f8e5m2: return true
        default: return false
        }
    }

    /// The dtype name used in safetensors headers (`F32`, `BF16`, `F8_E4M3`, ...).
    public var safetensorsName: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f8e4m3fn: return "F8_E4M3"
        case .f8e5m2: return "F8_E5M2"
        case .i8: return "I8"
        case .u8: return "U8"
        case .i32: return "I32"
        case .i64: return "I64"
        case .bool: return "BOOL"
        }
    }

    /// Parses a safetensors dtype name; nil for names this library does not support.
    public init?(safetensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = match
    }

    public var description: String { rawValue }
}
