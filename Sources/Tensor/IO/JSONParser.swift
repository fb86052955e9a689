/// A JSON text that could not be parsed: what was wrong and at which byte.
public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    /// What was wrong.
    public let message: String
    /// Byte offset in the input where the problem was found.
    public let offset: Int

    public var description: String { "\(message) at byte \(offset)" }
}

extension JSONValue {
    /// Parses a complete JSON text (RFC 8259, strict: no comments, trailing commas, NaN, leading zeros,
    /// unescaped control characters, lone surrogates or duplicate object keys). Whitespace may surround
    /// the value. Nesting deeper than `maxDepth` is an error, so hostile input cannot exhaust the stack.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws -> JSONValue {
        var p = JSONParser(bytes: bytes, maxDepth: maxDepth)
        return try p.parseDocument()
    }

    /// Parses JSON from a byte array. See `parse(_:maxDepth:)` for the accepted grammar.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 128) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    /// Parses JSON from a byte array like `parse(_:maxDepth:)`, except that an integer literal too
    /// large for `Int` (such as a 64-bit unsigned seed, 18446744073709551615) is kept exactly, as a
    /// `.string` of its literal text, instead of being rounded to a `.double`. For callers that accept
    /// integers given as strings of digits anyway.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 128, largeIntegersAsText: Bool) throws -> JSONValue {
        try bytes.withUnsafeBytes {
            var p = JSONParser(bytes: $0, maxDepth: maxDepth)
            p.largeIntegersAsText = largeIntegersAsText
            return try p.parseDocument()
        }
    }

    /// Parses JSON from a string. See `parse(_:maxDepth:)` for the accepted grammar.
    public static func parse(_ text: String, maxDepth: Int = 128) throws -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

/// Recursive-descent parser over raw bytes.
struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var pos = 0
    var depth = 0
    /// Integer literals beyond `Int` become `.string(literal)` rather than a rounded `.double`.
    var largeIntegersAsText = false

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if pos != bytes.count { throw fail("unexpected data after the JSON value") }
        return value
    }

    private func fail(_ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(message: message, offset: offset ?? pos)
    }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        let lit = UnsafeRawBufferPointer(start: literal.utf8Start, count: n)
        guard bytes.count - pos >= n, (0..<n).allSatisfy({ bytes[pos + $0] == lit[$0] }) else {
            throw fail("invalid literal")
        }
        pos += n
    }

    private mutating func parseValue() throws -> JSONValue {
        guard let c = peek else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character")
        }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth)") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        pos += 1
        var result: [String: JSONValue] = [:]
        skipWhitespace()
        if peek == UInt8(ascii: "}") { pos += 1; depth -= 1; return .object(result) }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyStart = pos
            let key = try parseString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipWhitespace()
            let value = try parseValue()
            if result.updateValue(value, forKey: key) != nil { throw fail("duplicate key \"\(key)\"", at: keyStart) }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "}"): pos += 1; depth -= 1; return .object(result)
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        pos += 1
        var result: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { pos += 1; depth -= 1; return .array(result) }
        while true {
            skipWhitespace()
            result.append(try parseValue())
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "]"): pos += 1; depth -= 1; return .array(result)
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = pos
        func digits(_ p: inout Int, _ b: UnsafeRawBufferPointer) -> Int {
            let s = p
            while p < b.count, b[p] >= 0x30, b[p] <= 0x39 { p += 1 }
            return p - s
        }
        if peek == UInt8(ascii: "-") { pos += 1 }
        guard let first = peek, first >= 0x30, first <= 0x39 else { throw fail("expected a digit") }
        if first == 0x30 {
            pos += 1
            if let c = peek, c >= 0x30, c <= 0x39 { throw fail("leading zero in number") }
        } else {
            _ = digits(&pos, bytes)
        }
        var integral = true
        if peek == UInt8(ascii: ".") {
            integral = false
            pos += 1
            if digits(&pos, bytes) == 0 { throw fail("expected a digit after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            if digits(&pos, bytes) == 0 { throw fail("expected a digit in the exponent") }
        }
        if integral, let i = integerValue(start..<pos) { return .int(i) }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if integral && largeIntegersAsText { return .string(text) }
        guard let d = Double(text), d.isFinite else { throw fail("number out of range", at: start) }
        return .double(d)
    }

    /// The value of an already validated integer literal, or nil when it does not fit in `Int`.
    private func integerValue(_ range: Range<Int>) -> Int? {
        var i = range.lowerBound
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value = 0
        while i < range.upperBound {
            let digit = Int(bytes[i] - 0x30)
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            // Accumulate negatively so Int.min fits.
            let (v, o2) = m.subtractingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = v
            i += 1
        }
        if negative { return value }
        return value == Int.min ? nil : -value
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - pos >= 4 else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    private mutating func parseString() throws -> String {
        let open = pos
        pos += 1
        var out: [UInt8] = []
        var runStart = pos
        while true {
            guard let c = peek else { throw fail("unterminated string", at: open) }
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw fail("unescaped control character in string") }
            if c != UInt8(ascii: "\\") { pos += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<pos]))
            pos += 1
            guard let e = peek else { throw fail("unterminated string", at: open) }
            pos += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired high surrogate")
                    }
                    pos += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired low surrogate")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw fail("invalid escape character")
            }
            runStart = pos
        }
        let tail = UnsafeRawBufferPointer(rebasing: bytes[runStart..<pos])
        pos += 1
        // No escapes (the common case): decode straight from the input.
        if out.isEmpty { return try makeString(tail, openQuote: open) }
        out.append(contentsOf: tail)
        return try out.withUnsafeBytes { try makeString($0, openQuote: open) }
    }

    private func makeString(_ out: UnsafeRawBufferPointer, openQuote open: Int) throws -> String {
        if out.allSatisfy({ $0 < 0x80 }) { return String(decoding: out, as: UTF8.self) }
        // Decoding repairs invalid sequences; a repaired string no longer matches its bytes.
        let s = String(decoding: out, as: UTF8.self)
        guard s.utf8.elementsEqual(out) else { throw fail("invalid UTF-8 in string", at: open) }
        return s
    }
}
