/// The `parameters` text of a PNG the server wrote (a tEXt chunk, or an uncompressed iTXt one for
/// non-Latin-1 text), read from its bytes without decoding the pixels: the infotext A1111's answers
/// carry, exactly as the picture holds it.
enum A1111PNGText {
    static func text(_ key: String, in png: [UInt8]) -> String? {
        var at = 8
        while at + 12 <= png.count {
            let length = Int(png[at]) << 24 | Int(png[at + 1]) << 16 | Int(png[at + 2]) << 8 | Int(png[at + 3])
            let type = String(decoding: png[(at + 4)..<(at + 8)], as: UTF8.self)
            let start = at + 8, end = start + length
            guard length >= 0, end + 4 <= png.count else { return nil }
            let data = png[start..<end]
            if type == "IEND" { return nil }
            if type == "tEXt" || type == "iTXt", let nul = data.firstIndex(of: 0),
               String(decoding: data[start..<nul], as: UTF8.self) == key {
                if type == "tEXt" { return String(data[(nul + 1)...].map { Character(Unicode.Scalar($0)) }) }
                // iTXt: compression flag, method, language\0, translated keyword\0, text.
                let rest = data[(nul + 1)...]
                guard rest.count >= 2, rest[rest.startIndex] == 0 else { return nil }
                let afterFlags = rest.dropFirst(2)
                guard let lang = afterFlags.firstIndex(of: 0), let translated = afterFlags[(lang + 1)...].firstIndex(of: 0) else { return nil }
                return String(decoding: afterFlags[(translated + 1)...], as: UTF8.self)
            }
            at = end + 4
        }
        return nil
    }
}
