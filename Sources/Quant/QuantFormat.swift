#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Quantisation: float8 formats, scales, int8/int4 blocks, quantized weights and checkpoint conversion.
public enum Quant {}

/// How the elements of a (possibly) quantized weight are stored.
public enum QuantFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// float8 e4m3fn codes (1 byte each), value = decode(code) * scale.
    case fp8e4m3fn = "fp8-e4m3fn"
    /// float8 e5m2 codes (1 byte each), value = decode(code) * scale.
    case fp8e5m2 = "fp8-e5m2"
    /// Signed 8-bit integers in -127...127, value = q * scale.
    case int8
    /// Signed 4-bit integers in -8...7, two per byte (element 2j in the low nibble, 2j+1 in the high
    /// nibble, two's complement), value = q * scale.
    case int4
    /// Unquantized bfloat16 (no scale).
    case bf16
    /// Unquantized IEEE half (no scale).
    case f16
    /// Unquantized float32 (no scale).
    case f32

    /// The formats `majicflux quantize` produces.
    public static let quantizedFormats: [QuantFormat] = [.fp8e4m3fn, .fp8e5m2, .int8, .int4]

    /// The largest quantized magnitude: scale = absmax / qmax (448, 57344, 127, 7); 1 for plain formats.
    public var qmax: Float {
        switch self {
        case .fp8e4m3fn: return 448
        case .fp8e5m2: return 57344
        case .int8: return 127
        case .int4: return 7
        case .bf16, .f16, .f32: return 1
        }
    }

    /// True for the float8 formats.
    public var isFloat8: Bool { self == .fp8e4m3fn || self == .fp8e5m2 }
    /// True for the formats that need a scale (int8, int4).
    public var isInteger: Bool { self == .int8 || self == .int4 }
    /// True for fp8/int8/int4.
    public var isQuantized: Bool { isFloat8 || isInteger }

    /// The tensor dtype holding the stored elements (int4 is packed into `u8`, two per byte).
    public var storageDType: DType {
        switch self {
        case .fp8e4m3fn: return .f8e4m3fn
        case .fp8e5m2: return .f8e5m2
        case .int8: return .i8
        case .int4: return .u8
        case .bf16: return .bf16
        case .f16: return .f16
        case .f32: return .f32
        }
    }

    /// Stored bytes of one row of `columns` elements.
    public func rowBytes(columns: Int) -> Int {
        self == .int4 ? (columns + 1) / 2 : columns * storageDType.byteSize
    }

    /// The plain (scale-free) format that stores tensors of `dtype`, if any.
    public init?(plain dtype: DType) {
        switch dtype {
        case .f8e4m3fn: self = .fp8e4m3fn
        case .f8e5m2: self = .fp8e5m2
        case .bf16: self = .bf16
        case .f16: self = .f16
        case .f32: self = .f32
        default: return nil
        }
    }

    public var description: String { rawValue }
}

/// The granularity of absmax scales: one per tensor, per output channel (row), or per block of
/// `n` consecutive input columns within a row.
public enum ScaleGranularity: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// No scale (scale 1): a plain cast.
    case none
    /// One scale for the whole tensor.
    case tensor
    /// One scale per output channel (row of the (out, in) weight).
    case channel
    /// One scale per `n` consecutive columns of each row (the last block of a row may be shorter).
    case block(Int)

    /// Parses `none`, `tensor`, `channel` or `block:N` (N even, 2...65536).
    public init(parsing s: String) throws {
        switch s {
        case "none": self = .none
        case "tensor": self = .tensor
        case "channel": self = .channel
        default:
            guard s.hasPrefix("block:"), let n = Int(s.dropFirst(6)), n >= 2, n <= 65536, n % 2 == 0 else {
                throw TensorError.invalidArgument("scale '\(s)': expected none, tensor, channel or block:N (N even, 2 to 65536)")
            }
            self = .block(n)
        }
    }

    /// Number of scales for a (rows, columns) weight: 0, 1, rows, or rows * ceil(columns / n).
    public func scaleCount(rows: Int, columns: Int) -> Int {
        switch self {
        case .none: return 0
        case .tensor: return 1
        case .channel: return rows
        case .block(let n): return rows * ((columns + n - 1) / n)
        }
    }

    /// Shape of the scale tensor: [], [rows] or [rows, blocks]; nil for `.none`.
    public func scaleShape(rows: Int, columns: Int) -> [Int]? {
        switch self {
        case .none: return nil
        case .tensor: return []
        case .channel: return [rows]
        case .block(let n): return [rows, (columns + n - 1) / n]
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .tensor: return "tensor"
        case .channel: return "channel"
        case .block(let n): return "block:\(n)"
        }
    }
}
