#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A loosely typed JSON value for reading Hugging Face `tokenizer.json` / `tokenizer_config.json`,
/// whose components vary by type. (Decoded with `JSONDecoder`; object key order is not kept.)
indirect enum TokenizerJSONValue: Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TokenizerJSONValue])
    case object([String: TokenizerJSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([TokenizerJSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: TokenizerJSONValue].self)) }
    }

    subscript(key: String) -> TokenizerJSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var number: Double? { if case .number(let d) = self { return d }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var array: [TokenizerJSONValue]? { if case .array(let a) = self { return a }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }
    /// An integer value (JSON numbers are doubles; accepts exact integers only).
    var int: Int? {
        guard let d = number, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }
    /// A token given either as a plain string or as an `AddedToken` object (`{"content": ...}`).
    var tokenContent: String? { string ?? self["content"]?.string }
}
