/// GPT-2's reversible byte-to-unicode mapping used by byte-level BPE (CLIP, GPT-2):
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100... in byte order.
enum ByteLevel {
    /// `scalars[b]` is the unicode scalar that stands for byte `b`.
    static let scalars: [Unicode.Scalar] = {
        var table = [UInt32](repeating: 0, count: 256)
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }
        for b in 0xA1...0xAC { printable[b] = true }
        for b in 0xAE...0xFF { printable[b] = true }
        var next: UInt32 = 256
        for b in 0..<256 {
            if printable[b] { table[b] = UInt32(b) } else { table[b] = next; next += 1 }
        }
        return table.map { Unicode.Scalar($0)! }
    }()

    /// The byte-level string of `text`'s UTF-8 bytes.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(scalars[Int(b)]) }
        return String(out)
    }
}
