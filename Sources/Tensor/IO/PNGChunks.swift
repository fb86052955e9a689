import CPNG

/// Chunk-level PNG handling: walking and validating the chunk list (lengths, bounds, CRCs), reading the
/// text chunks (tEXt, zTXt, iTXt) and building new tEXt / iTXt chunks. Pixels are left to libpng.
enum PNGChunks {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Upper bound for the text of one file, all chunks together, decompressed (guards against zlib
    /// bombs: many small compressed chunks must not add up to gigabytes; Pillow caps it likewise).
    static let maxTextBytes = 64 << 20

    /// One chunk: its 4-letter type and where its data lies in the file.
    struct Chunk {
        let type: String
        /// Offset of the chunk's length field (the chunk starts here).
        let start: Int
        let dataStart: Int
        let length: Int
        /// Offset just past the CRC.
        var end: Int { dataStart + length + 4 }
    }

    static func readU32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func appendU32(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8((v >> 16) & 0xFF))
        out.append(UInt8((v >> 8) & 0xFF)); out.append(UInt8(v & 0xFF))
    }

    static func crc(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: uLong = crc32(0, nil, 0)
        var p = bytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
        var left = bytes.count
        while left > 0 { // crc32 takes a 32-bit length
            let n = min(left, 1 << 30)
            c = crc32(c, p, uInt(n))
            p += n; left -= n
        }
        return UInt32(truncatingIfNeeded: c)
    }

    /// Walks all chunks from the signature to IEND, checking signature, bounds, chunk names, CRCs, that
    /// IHDR comes first and that IDAT and IEND are present. Throws `TensorError.corrupt` naming `source`.
    static func walk(_ b: UnsafeRawBufferPointer, source: String) throws -> [Chunk] {
        func fail(_ why: String) -> TensorError { .corrupt(path: source, reason: why) }
        guard b.count >= 8, signature.indices.allSatisfy({ b[$0] == signature[$0] }) else {
            throw fail("not a PNG file (bad signature)")
        }
        var chunks: [Chunk] = []
        var at = 8
        while true {
            guard b.count - at >= 12 else { throw fail("truncated: chunk header at byte \(at) runs past the end of the data") }
            let length = Int(readU32(b, at))
            guard length <= 0x7FFF_FFFF else { throw fail("chunk length \(length) at byte \(at) exceeds 2^31-1") }
            let typeBytes = (0..<4).map { b[at + 4 + $0] }
            guard typeBytes.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else {
                throw fail("invalid chunk type bytes \(typeBytes) at byte \(at)")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard b.count - (at + 8) >= length + 4 else {
                throw fail("truncated: \(type) chunk at byte \(at) needs \(length) data bytes + CRC")
            }
            let stored = readU32(b, at + 8 + length)
            let computed = crc(UnsafeRawBufferPointer(rebasing: b[(at + 4)..<(at + 8 + length)]))
            guard stored == computed else { throw fail("CRC mismatch in \(type) chunk at byte \(at)") }
            if chunks.isEmpty && type != "IHDR" { throw fail("first chunk is \(type), not IHDR") }
            chunks.append(Chunk(type: type, start: at, dataStart: at + 8, length: length))
            at += 12 + length
            if type == "IEND" { break }
        }
        guard chunks.contains(where: { $0.type == "IDAT" }) else { throw fail("no IDAT chunk") }
        return chunks
    }

    // MARK: reading text

    /// The text key/value pairs of tEXt, zTXt and iTXt chunks, in file order.
    static func texts(_ b: UnsafeRawBufferPointer, chunks: [Chunk], source: String) throws -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        var left = maxTextBytes  // of the whole file's text
        func take(_ n: Int, _ fail: (String) -> TensorError) throws {
            left -= n
            if left < 0 { throw fail("the text chunks hold more than \(maxTextBytes) bytes") }
        }
        for c in chunks where c.type == "tEXt" || c.type == "zTXt" || c.type == "iTXt" {
            let data = Array(b[c.dataStart..<(c.dataStart + c.length)])
            func fail(_ why: String) -> TensorError { .corrupt(path: source, reason: "\(c.type) chunk at byte \(c.start): \(why)") }
            guard let keyEnd = data.firstIndex(of: 0), keyEnd >= 1 else { throw fail("missing or empty keyword") }
            let key = latin1(data[0..<keyEnd])
            let rest = data[(keyEnd + 1)...]
            switch c.type {
            case "tEXt":
                try take(rest.count, fail)
                result.append((key, latin1(rest)))
            case "zTXt":
                guard let method = rest.first, method == 0 else { throw fail("unknown compression method") }
                let text = try inflate(rest.dropFirst(), limit: left, what: fail)
                try take(text.count, fail)
                result.append((key, latin1(text[...])))
            default: // iTXt
                guard rest.count >= 2 else { throw fail("too short") }
                let compressed = rest[rest.startIndex], method = rest[rest.startIndex + 1]
                var p = rest.dropFirst(2)
                guard let langEnd = p.firstIndex(of: 0) else { throw fail("missing language tag terminator") }
                p = p[(langEnd + 1)...]
                guard let transEnd = p.firstIndex(of: 0) else { throw fail("missing translated keyword terminator") }
                p = p[(transEnd + 1)...]
                let textBytes: [UInt8]
                switch (compressed, method) {
                case (0, _): textBytes = Array(p)
                case (1, 0): textBytes = try inflate(p, limit: left, what: fail)
                default: throw fail("unknown compression flag \(compressed) / method \(method)")
                }
                try take(textBytes.count, fail)
                // Invalid UTF-8 is repaired with U+FFFD rather than rejected: the pixels are still good.
                result.append((key, String(decoding: textBytes, as: UTF8.self)))
            }
        }
        return result
    }

    static func latin1(_ bytes: ArraySlice<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b)) }
        return String(s)
    }

    /// zlib-inflates `input` (a complete zlib stream), refusing output over `limit` bytes.
    static func inflate(_ input: ArraySlice<UInt8>, limit: Int, what fail: (String) -> TensorError) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let input = Array(input)
        return try input.withUnsafeBufferPointer { inp -> [UInt8] in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
            stream.avail_in = uInt(inp.count)
            while true {
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = uInt(c.count)
                    return zlib_inflate(&stream)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                guard out.count <= limit else { throw fail("the text chunks hold more than \(maxTextBytes) bytes") }
                if status == Z_STREAM_END { return out }
                if status == Z_OK { continue }
                if status == Z_BUF_ERROR && stream.avail_in == 0 { throw fail("truncated compressed text") }
                throw fail("corrupt compressed text (zlib status \(status))")
            }
        }
    }

    // MARK: writing text

    /// Builds one text chunk: tEXt when key and value are Latin-1 (and the value has no NUL), else an
    /// uncompressed iTXt with UTF-8 text. Keys must be 1-79 printable Latin-1 characters without leading,
    /// trailing or doubled spaces (the PNG rule).
    static func textChunk(key: String, value: String) throws -> [UInt8] {
        guard let keyBytes = latin1Bytes(key), (1...79).contains(keyBytes.count),
              keyBytes.allSatisfy({ (32...126).contains($0) || (161...255).contains($0) }),
              keyBytes.first != 32, keyBytes.last != 32,
              !zip(keyBytes, keyBytes.dropFirst()).contains(where: { $0 == 32 && $1 == 32 }) else {
            throw TensorError.invalidArgument("PNG text key '\(key)' must be 1-79 printable Latin-1 characters without leading, trailing or double spaces")
        }
        var data = keyBytes
        data.append(0)
        let type: String
        if let v = latin1Bytes(value), !v.contains(0) {
            type = "tEXt"
            data += v
        } else {
            type = "iTXt"
            data += [0, 0] // not compressed, method 0
            data.append(0) // empty language tag
            data.append(0) // empty translated keyword
            data += Array(value.utf8)
        }
        return chunk(type: type, data: data)
    }

    static func chunk(type: String, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 12)
        appendU32(UInt32(data.count), to: &out)
        out += Array(type.utf8)
        out += data
        let c = out.withUnsafeBytes { crc(UnsafeRawBufferPointer(rebasing: $0[4...])) }
        appendU32(c, to: &out)
        return out
    }

    static func latin1Bytes(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard u.value < 256 else { return nil }
            out.append(UInt8(u.value))
        }
        return out
    }
}

/// `inflate` is also the name of our function above; call zlib's through this wrapper.
@inline(__always) private func zlib_inflate(_ s: UnsafeMutablePointer<z_stream>) -> Int32 {
    CPNG.inflate(s, Z_NO_FLUSH)
}
