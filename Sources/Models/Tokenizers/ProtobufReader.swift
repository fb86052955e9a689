/// A minimal reader of the protocol-buffers wire format (varint, 64-bit, length-delimited, 32-bit
/// fields), enough to parse SentencePiece's `ModelProto` without a protobuf library.
/// Every read is bounds-checked; malformed input throws `ProtobufReader.Failure`.
struct ProtobufReader {
    struct Failure: Error { let reason: String }

    enum WireType: UInt8 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    private let bytes: UnsafeBufferPointer<UInt8>
    private(set) var offset: Int
    private let end: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>? = nil) {
        self.bytes = bytes
        offset = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var isAtEnd: Bool { offset >= end }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw Failure(reason: "truncated varint at byte \(offset)") }
            let b = bytes[offset]
            offset += 1
            guard shift < 64 else { throw Failure(reason: "varint longer than 10 bytes at byte \(offset)") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Reads a field key; returns nil at the end of the message.
    mutating func readKey() throws -> (field: Int, wire: WireType)? {
        if isAtEnd { return nil }
        let key = try readVarint()
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw Failure(reason: "unsupported wire type \(key & 7) at byte \(offset)")
        }
        let field = Int(key >> 3)
        guard field > 0 else { throw Failure(reason: "field number 0 at byte \(offset)") }
        return (field, wire)
    }

    /// The byte range of a length-delimited field's payload (advances past it).
    mutating func readLengthDelimited() throws -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - offset) else { throw Failure(reason: "length \(length) past the end at byte \(offset)") }
        let r = offset..<(offset + Int(length))
        offset += Int(length)
        return r
    }

    mutating func readFixed32() throws -> UInt32 {
        guard end - offset >= 4 else { throw Failure(reason: "truncated 32-bit field at byte \(offset)") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return v
    }

    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try readVarint()
        case .fixed64:
            guard end - offset >= 8 else { throw Failure(reason: "truncated 64-bit field at byte \(offset)") }
            offset += 8
        case .lengthDelimited: _ = try readLengthDelimited()
        case .fixed32: _ = try readFixed32()
        }
    }

    /// A UTF-8 string payload (invalid UTF-8 throws).
    func string(_ r: Range<Int>) throws -> String {
        guard let s = String(validating: UnsafeBufferPointer(rebasing: bytes[r]), as: UTF8.self) else {
            throw Failure(reason: "invalid UTF-8 string at byte \(r.lowerBound)")
        }
        return s
    }

    /// Checks the wire type of a known field.
    static func expect(_ wire: WireType, _ want: WireType, field: String) throws {
        guard wire == want else { throw Failure(reason: "field \(field) has wire type \(wire.rawValue), expected \(want.rawValue)") }
    }
}
