import Foundation

/// `multipart/form-data` bodies (RFC 7578), read whole from memory. Everything malformed — no or a
/// bad boundary, a part without a name, headers that never end, a body that stops before the closing
/// boundary — is an `APIError` 400 naming the problem; nothing is guessed.
enum MultipartParser {
    struct Part {
        var name: String
        var filename: String?
        var contentType: String?
        var data: [UInt8]
    }

    /// Most parts a job may send (four pictures, the request, a few fields).
    static let maxParts = 32
    /// Longest header block of one part.
    static let maxHeaderBytes = 4096

    /// The boundary of a `multipart/form-data; boundary=...` content type; nil for other types.
    static func boundary(contentType: String) throws -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else { return nil }
        guard let b = pieces.dropFirst().first(where: { $0.lowercased().hasPrefix("boundary=") }) else {
            throw APIError.badRequest("multipart/form-data without a boundary parameter in Content-Type")
        }
        var value = String(b.dropFirst("boundary=".count))
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        // RFC 2046: 1 to 70 characters from a small set.
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
        guard (1...70).contains(value.count), value.allSatisfy(allowed.contains), value.last != " " else {
            throw APIError.badRequest("multipart/form-data boundary must be 1 to 70 letters, digits or '()+_,-./:=? (got \"\(value.prefix(80))\")")
        }
        return value
    }

    /// The parts of `body`, in order.
    static func parse(_ body: [UInt8], boundary: String) throws -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        let crlfDelimiter = [13, 10] + delimiter
        guard var at = find(delimiter, in: body, from: 0) else {
            throw APIError.badRequest("the multipart body does not contain its boundary \"--\(boundary)\"")
        }
        var parts: [Part] = []
        while true {
            at += delimiter.count
            // After a delimiter: "--" closes the body; else CRLF (after optional spaces) starts a part.
            if body.count >= at + 2, body[at] == 45, body[at + 1] == 45 { return parts }
            while at < body.count, body[at] == 32 || body[at] == 9 { at += 1 }
            guard body.count >= at + 2, body[at] == 13, body[at + 1] == 10 else {
                throw APIError.badRequest("the multipart body is cut short or malformed after a boundary (part \(parts.count + 1))")
            }
            at += 2
            guard parts.count < maxParts else { throw APIError.badRequest("the multipart body has more than \(maxParts) parts") }
            guard let headerEnd = find([13, 10, 13, 10], in: body, from: at, limit: at + maxHeaderBytes + 4) else {
                throw APIError.badRequest("part \(parts.count + 1) of the multipart body has no end to its headers (cut short, or headers above \(maxHeaderBytes) bytes)")
            }
            var part = try headers(String(decoding: body[at..<headerEnd], as: UTF8.self), index: parts.count + 1)
            let start = headerEnd + 4
            guard let end = find(crlfDelimiter, in: body, from: start) else {
                throw APIError.badRequest("part \"\(part.name)\" of the multipart body is cut short: its closing boundary is missing")
            }
            part.data = Array(body[start..<end])
            parts.append(part)
            at = end + 2
        }
    }

    /// A part's headers: `Content-Disposition: form-data; name="..."[; filename="..."]` is required.
    private static func headers(_ text: String, index: Int) throws -> Part {
        var name: String?, filename: String?, type: String?
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw APIError.badRequest("part \(index) of the multipart body has a malformed header line")
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "content-type" { type = value }
            guard key == "content-disposition" else { continue }
            let params = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard params.first?.lowercased() == "form-data" else {
                throw APIError.badRequest("part \(index) of the multipart body is not form-data")
            }
            for p in params.dropFirst() {
                guard let eq = p.firstIndex(of: "=") else { continue }
                let k = p[..<eq].lowercased()
                var v = String(p[p.index(after: eq)...])
                if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
                if k == "name" { name = v } else if k == "filename" { filename = v }
            }
        }
        guard let name, !name.isEmpty else {
            throw APIError.badRequest("part \(index) of the multipart body has no Content-Disposition name")
        }
        return Part(name: name, filename: filename, contentType: type, data: [])
    }

    /// First index of `needle` in `hay` at or after `from` (and, with `limit`, ending by it).
    /// Knuth-Morris-Pratt: linear whatever the bytes, so a hostile boundary cannot make it quadratic.
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int, limit: Int = .max) -> Int? {
        let end = min(hay.count, limit), m = needle.count
        guard m > 0, from >= 0, end - from >= m else { return nil }
        var fail = [Int](repeating: 0, count: m)
        var k = 0
        for i in 1..<m {
            while k > 0 && needle[i] != needle[k] { k = fail[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            fail[i] = k
        }
        return hay.withUnsafeBufferPointer { h -> Int? in
            var q = 0
            for i in from..<end {
                while q > 0 && h[i] != needle[q] { q = fail[q - 1] }
                if h[i] == needle[q] { q += 1 }
                if q == m { return i - m + 1 }
            }
            return nil
        }
    }
}
