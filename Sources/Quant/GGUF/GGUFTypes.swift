/// The tensor types of ggml (`enum ggml_type`), with their block layouts.
///
/// A tensor row of `n` elements is stored as `n / blockSize` blocks of `typeSize` bytes each; plain
/// types (F32, F16, BF16, integers) have blocks of one element. The numbers are ggml's
/// (`GGML_QUANT_SIZES` in the `gguf` Python package).
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Elements per block (256 for the k-quants, `QK_K`).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        default: return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8: return 1
        case .i64, .f64: return 8
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 40
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        case .iq2_XXS: return 66
        case .iq2_XS: return 74
        case .iq3_XXS: return 98
        case .iq1_S: return 50
        case .iq4_NL: return 18
        case .iq3_S: return 110
        case .iq2_S: return 82
        case .iq4_XS: return 136
        case .iq1_M: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        }
    }

    /// ggml's name (`Q4_K`, `BF16`, ...).
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .iq2_XXS: return "IQ2_XXS"
        case .iq2_XS: return "IQ2_XS"
        case .iq3_XXS: return "IQ3_XXS"
        case .iq1_S: return "IQ1_S"
        case .iq4_NL: return "IQ4_NL"
        case .iq3_S: return "IQ3_S"
        case .iq2_S: return "IQ2_S"
        case .iq4_XS: return "IQ4_XS"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .f64: return "F64"
        case .iq1_M: return "IQ1_M"
        case .bf16: return "BF16"
        case .tq1_0: return "TQ1_0"
        case .tq2_0: return "TQ2_0"
        case .mxfp4: return "MXFP4"
        }
    }

    /// Parses ggml's name (`Q8_0`, `q4_k`, ...), case-insensitively.
    public init?(name: String) {
        guard let t = GGMLType.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = t
    }

    /// The types this library turns into floats (`GGUFDequantize`).
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q5_0, .q5_1, .q4_0, .q4_1,
                                                   .q6_K, .q5_K, .q4_K, .q3_K, .q2_K]

    /// The types this library writes (`GGUFQuantize`): those the reference `gguf.quants.quantize`
    /// implements (bytes checked against it) and the k-quants (bytes checked against ggml's C
    /// reference quantisers).
    public static let quantizable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q5_0, .q5_1, .q4_0, .q4_1,
                                                 .q6_K, .q5_K, .q4_K, .q3_K, .q2_K]

    /// True for types `GGUFDequantize` reads.
    public var isDequantizable: Bool { GGMLType.dequantizable.contains(self) }

    /// Bytes of one row of `elements` elements; nil when `elements` is not a multiple of the block
    /// size or the count overflows.
    public func rowBytes(_ elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (b, o) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
        return o ? nil : b
    }

    public var description: String { name }
}

/// The value types of GGUF metadata (`enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of a fixed-size type; nil for strings and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value can take: its fixed size, 8 for a string (its length), 12 for an
    /// array (element type and count). Used to refuse counts the rest of the file cannot hold.
    public var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}
