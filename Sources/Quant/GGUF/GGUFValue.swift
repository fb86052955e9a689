/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFArray)

    /// The value's GGUF type.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    /// Any integer value as `Int` (nil for other types and for a `uint64` beyond `Int.max`).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// A float32/float64 value (or an integer) as `Double`.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    /// The string of a `.string` value.
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }

    /// The array of an `.array` value.
    public var array: GGUFArray? { if case .array(let a) = self { return a } else { return nil } }

    public var description: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return "\(b)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .array(let a): return "\(a)"
        default: return int.map(String.init) ?? "\(self)"
        }
    }
}

/// A metadata array. Arrays of fixed-size values keep their little-endian bytes (one byte per
/// `uint8`, not a `GGUFValue` each), so a file's largest arrays cost what they cost on disk.
public struct GGUFArray: Sendable, Equatable, CustomStringConvertible {
    /// Type of every element.
    public let elementType: GGUFValueType
    /// Number of elements.
    public let count: Int
    /// Raw little-endian elements of a fixed-size type.
    let raw: [UInt8]
    /// Elements of a string or array type.
    let boxed: [GGUFValue]

    /// An array of fixed-size elements from their little-endian bytes.
    init(elementType: GGUFValueType, count: Int, raw: [UInt8]) {
        self.elementType = elementType
        self.count = count
        self.raw = raw
        boxed = []
    }

    /// An array of strings or arrays.
    init(elementType: GGUFValueType, values: [GGUFValue]) {
        self.elementType = elementType
        count = values.count
        raw = []
        boxed = values
    }

    /// An array of values that all have type `elementType` (checked by the caller).
    public init(_ values: [GGUFValue], elementType: GGUFValueType) {
        if let size = elementType.fixedSize {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(values.count * size)
            for v in values { GGUFEncoding.appendScalar(v, to: &bytes) }
            self.init(elementType: elementType, count: values.count, raw: bytes)
        } else {
            self.init(elementType: elementType, values: values)
        }
    }

    /// Element `i`.
    public subscript(i: Int) -> GGUFValue {
        precondition(i >= 0 && i < count, "GGUF array index \(i) out of 0..<\(count)")
        guard let size = elementType.fixedSize else { return boxed[i] }
        return raw.withUnsafeBytes { GGUFEncoding.scalar(elementType, at: $0.baseAddress! + i * size) }
    }

    /// Every element.
    public var values: [GGUFValue] { (0..<count).map { self[$0] } }

    /// Every element as `Int` when all are integers.
    public var integers: [Int]? {
        var out: [Int] = []
        out.reserveCapacity(count)
        for i in 0..<count { guard let v = self[i].int else { return nil }; out.append(v) }
        return out
    }

    /// Every element as `String` when this is an array of strings.
    public var strings: [String]? { elementType == .string ? boxed.compactMap(\.string) : nil }

    public var description: String {
        let shown = (0..<Swift.min(count, 8)).map { "\(self[$0])" }.joined(separator: ", ")
        return "[\(shown)\(count > 8 ? ", ... (\(count) \(elementType))" : "")]"
    }
}

/// Little-endian scalar encoding shared by the reader and the writer.
enum GGUFEncoding {
    /// Decodes one fixed-size value of `type` at `p` (unaligned).
    static func scalar(_ type: GGUFValueType, at p: UnsafeRawPointer) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(p.load(as: UInt8.self))
        case .int8: return .int8(p.load(as: Int8.self))
        case .bool: return .bool(p.load(as: UInt8.self) != 0)
        case .uint16: return .uint16(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        case .int16: return .int16(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
        case .uint32: return .uint32(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        case .int32: return .int32(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
        case .float32: return .float32(Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))))
        case .uint64: return .uint64(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
        case .int64: return .int64(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
        case .float64: return .float64(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
        case .string, .array: preconditionFailure("\(type) is not a fixed-size GGUF type")
        }
    }

    static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Appends a fixed-size value's bytes.
    static func appendScalar(_ v: GGUFValue, to out: inout [UInt8]) {
        switch v {
        case .uint8(let x): out.append(x)
        case .int8(let x): out.append(UInt8(bitPattern: x))
        case .bool(let x): out.append(x ? 1 : 0)
        case .uint16(let x): append(x, to: &out)
        case .int16(let x): append(x, to: &out)
        case .uint32(let x): append(x, to: &out)
        case .int32(let x): append(x, to: &out)
        case .float32(let x): append(x.bitPattern, to: &out)
        case .uint64(let x): append(x, to: &out)
        case .int64(let x): append(x, to: &out)
        case .float64(let x): append(x.bitPattern, to: &out)
        case .string, .array: preconditionFailure("\(v.type) is not a fixed-size GGUF type")
        }
    }

    /// Appends a string (u64 length, UTF-8 bytes).
    static func appendString(_ s: String, to out: inout [UInt8]) {
        append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
    }

    /// Appends a value without its type tag (the tag is written by the caller).
    static func appendValue(_ v: GGUFValue, to out: inout [UInt8]) {
        switch v {
        case .string(let s): appendString(s, to: &out)
        case .array(let a):
            append(a.elementType.rawValue, to: &out)
            append(UInt64(a.count), to: &out)
            if a.elementType.fixedSize != nil { out.append(contentsOf: a.raw) } else { for e in a.boxed { appendValue(e, to: &out) } }
        default: appendScalar(v, to: &out)
        }
    }
}
