extension JSONValue {
    /// The JSON text of this value. Object keys are written in sorted order so output is deterministic.
    /// `pretty` indents nested containers by two spaces. Non-finite doubles (which JSON cannot hold)
    /// are written as `null`.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                JSONValue.newline(&out, pretty, indent + 1)
                v.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            JSONValue.newline(&out, pretty, indent)
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONValue.newline(&out, pretty, indent + 1)
                JSONValue.writeString(key, into: &out)
                out += pretty ? ": " : ":"
                o[key]!.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            JSONValue.newline(&out, pretty, indent)
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ pretty: Bool, _ indent: Int) {
        guard pretty else { return }
        out += "\n"
        out += String(repeating: " ", count: 2 * indent)
    }

    /// Writes `s` as a quoted JSON string, escaping quotes, backslashes and control characters.
    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
