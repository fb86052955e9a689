import Foundation
import Tensor
import XCTest

/// PNG encode/decode, text chunks, corruption handling and diffusers-compatible tensor <-> image rounding.
/// Fixtures: Tools/make_png_fixtures.py (PIL 13 writes the PNGs; diffusers 0.42 computes the rounding).
final class PNGTests: XCTestCase {
    struct ImageCase: Decodable {
        let file: String; let width: Int; let height: Int; let channels: Int
        let pixels: [UInt8]; let text: [[String]]
    }
    struct Rounding: Decodable { let shape: [Int]; let bits: [UInt32]; let rgb: [UInt8] }
    struct Fixture: Decodable { let images: [ImageCase]; let rounding: [String: Rounding] }

    static let dir = Bundle.module.url(forResource: "png", withExtension: nil, subdirectory: "Fixtures")!
    static let fixture: Fixture = try! JSONDecoder().decode(
        Fixture.self, from: Data(contentsOf: dir.appendingPathComponent("png_fixtures.json")))

    static func pattern(_ w: Int, _ h: Int, _ c: Int) -> PNGImage {
        var px = [UInt8](repeating: 0, count: w * h * c)
        for i in 0..<px.count { px[i] = UInt8((i * 37 + i / 7) % 256) }
        return try! PNGImage(width: w, height: h, channels: c, pixels: px)
    }

    func assertText(_ got: [(key: String, value: String)], _ want: [(String, String)], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.map(\.key), want.map(\.0), file: file, line: line)
        XCTAssertEqual(got.map(\.value), want.map(\.1), file: file, line: line)
    }

    func testRoundTripRGBAndRGBAWithText() throws {
        let text: [(key: String, value: String)] = [("Title", "A cat"), ("Comment", "café"),
                                                     ("prompt", "提示词: 一只猫"), ("seed", "42")]
        for c in [3, 4] {
            let img = Self.pattern(33, 17, c)
            let bytes = try PNG.encode(img, text: text)
            let (back, backText) = try PNG.decode(bytes)
            XCTAssertEqual(back, img, "channels \(c)")
            assertText(backText, text.map { ($0.key, $0.value) })
            // Latin-1 values go to tEXt, the Chinese one to iTXt; all before IDAT.
            let types = chunkTypes(bytes)
            XCTAssertEqual(types.filter { $0 == "tEXt" }.count, 3)
            XCTAssertEqual(types.filter { $0 == "iTXt" }.count, 1)
            XCTAssertLessThan(types.lastIndex(of: "tEXt")!, types.firstIndex(of: "IDAT")!)
        }
    }

    /// Noise does not compress: the one-pass encoder's buffer must hold the stored (uncompressed)
    /// form with all its framing, at sizes from one pixel to over a megabyte.
    func testIncompressibleNoiseRoundTripsInOnePass() throws {
        var g = SystemRandomNumberGenerator()
        for (w, h, c) in [(1, 1, 3), (257, 131, 4), (700, 600, 3)] {
            let img = try PNGImage(width: w, height: h, channels: c, pixels: (0..<(w * h * c)).map { _ in UInt8.random(in: 0...255, using: &g) })
            let bytes = try PNG.encode(img)
            XCTAssertGreaterThan(bytes.count, w * h * c, "noise cannot shrink")
            XCTAssertEqual(try PNG.decode(bytes).image, img, "\(w)x\(h)x\(c)")
        }
    }

    func testFileWriteAndRead() throws {
        let path = NSTemporaryDirectory() + "/majicflux-png-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let img = Self.pattern(8, 9, 3)
        try img.write(to: path, text: [("k", "v")])
        let (back, text) = try PNG.read(path)
        XCTAssertEqual(back, img)
        assertText(text, [("k", "v")])
        XCTAssertThrowsError(try PNG.read(path + ".missing")) { e in
            guard case TensorError.io = e else { return XCTFail("expected io error, got \(e)") }
        }
    }

    /// A destination that cannot be written gives one readable line naming the path and the reason
    /// (it used to be a Foundation error dump: "Error Domain=NSCocoaErrorDomain Code=4 ...").
    func testWriteErrorsAreOneReadableLine() throws {
        let image = try PNGImage(width: 1, height: 1, channels: 3, pixels: [1, 2, 3])
        let folder = NSTemporaryDirectory() + "/majicflux-png-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (path, reason) in [(folder + "/missing/x.png", "does not exist"), (folder, "is a folder")] {
            XCTAssertThrowsError(try PNG.write(image, to: path)) { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains(path) && text.contains(reason), text)
                XCTAssertFalse(text.contains("Domain") || text.contains("\n"), text)
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [], "no temporary file left")
    }

    func testDecodesPILFixturesIncludingGrayPaletteAndTextChunks() throws {
        for c in Self.fixture.images {
            let bytes = [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent(c.file)))
            let (img, text) = try PNG.decode(bytes, source: c.file)
            XCTAssertEqual(img.width, c.width, c.file)
            XCTAssertEqual(img.height, c.height, c.file)
            XCTAssertEqual(img.channels, c.channels, c.file)
            XCTAssertEqual(img.pixels.count, c.pixels.count, c.file)
            // Exact, except 16-bit -> 8-bit scaling where 1 level of difference is allowed.
            let tol = c.file == "gray16.png" ? 1 : 0
            let worst = zip(img.pixels, c.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, tol, "\(c.file): max pixel difference \(worst)")
            assertText(text, c.text.map { ($0[0], $0[1]) })
        }
    }

    func testCorruptDataThrowsAndNeverCrashes() throws {
        let good = try PNG.encode(Self.pattern(16, 16, 3), text: [("Title", "x"), ("p", "一只猫")])
        XCTAssertNoThrow(try PNG.decode(good))
        // Every truncation.
        for n in 0..<good.count {
            XCTAssertThrowsError(try PNG.decode(Array(good[0..<n])), "truncated to \(n) bytes")
        }
        // Every single byte flipped: the signature check or a chunk CRC must catch it.
        for i in 0..<good.count {
            var bad = good
            bad[i] ^= 0x5A
            XCTAssertThrowsError(try PNG.decode(bad), "byte \(i) flipped")
        }
        // A bad CRC is reported as such.
        var badCRC = good
        badCRC[good.count - 13] ^= 1 // last byte of the last chunk before IEND's 12 bytes is a CRC byte
        XCTAssertThrowsError(try PNG.decode(badCRC, source: "x.png")) { e in
            XCTAssertTrue("\(e)".contains("CRC"), "\(e)")
            XCTAssertTrue("\(e)".contains("x.png"), "\(e)")
        }
        // Valid chunk structure (CRCs recomputed) around damaged image data: libpng's error, thrown.
        var damaged = good
        let idat = chunkRanges(good).first { $0.type == "IDAT" }!
        for i in idat.data.lowerBound..<min(idat.data.upperBound, idat.data.lowerBound + 40) { damaged[i] = UInt8(i % 251) }
        fixCRC(&damaged, idat)
        XCTAssertThrowsError(try PNG.decode(damaged))
        // A header claiming an enormous image with a tiny IDAT is refused before allocating.
        var huge = good
        for k in 0..<4 { huge[16 + k] = [0x00, 0x0F, 0x42, 0x40][k] } // width 1_000_000
        fixCRC(&huge, chunkRanges(good)[0])
        XCTAssertThrowsError(try PNG.decode(huge))
        // Random garbage after a valid signature.
        var g = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let junk = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + (0..<Int.random(in: 0..<300, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            XCTAssertThrowsError(try PNG.decode(junk))
        }
    }

    func testCorruptCompressedTextThrows() throws {
        // A zTXt chunk whose zlib stream is cut short (CRC correct) is reported, not skipped or crashed on.
        let good = try PNG.encode(Self.pattern(4, 4, 3))
        var data = Array("Comment".utf8) + [0, 0]
        data += [0x78, 0x9C, 0x4B, 0x4C] // start of a zlib stream, truncated
        let chunk = makeChunk("zTXt", data)
        let idat = chunkRanges(good).first { $0.type == "IDAT" }!
        let bad = Array(good[0..<idat.start]) + chunk + Array(good[idat.start...])
        XCTAssertThrowsError(try PNG.decode(bad)) { e in XCTAssertTrue("\(e)".contains("zTXt"), "\(e)") }
    }

    /// Many small zTXt chunks (Tools/make_png_text_bomb.py: 65 x 1 MiB of text in 70 KB) stop at the
    /// cap for the whole file's text, each chunk being under it; the pixels alone still decode.
    func testTextOfAllChunksTogetherIsCapped() throws {
        let bomb = [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent("text_bomb.png")))
        XCTAssertLessThan(bomb.count, 100_000)
        XCTAssertThrowsError(try PNG.text(bomb)) { e in XCTAssertTrue("\(e)".contains("more than \(64 << 20) bytes"), "\(e)") }
        XCTAssertThrowsError(try PNG.decode(bomb))
        // The same chunks, fewer of them: read in full.
        let few = try PNG.text(try PNG.encode(Self.pattern(2, 2, 3), text: [("a", "x"), ("b", "y")]))
        XCTAssertEqual(few.map(\.key), ["a", "b"])
    }

    func testInvalidTextKeysAreRejected() {
        let img = Self.pattern(2, 2, 3)
        for key in ["", " lead", "trail ", "dou  ble", String(repeating: "k", count: 80), "猫", "tab\tkey"] {
            XCTAssertThrowsError(try PNG.encode(img, text: [(key, "v")]), "key '\(key)'")
        }
        XCTAssertNoThrow(try PNG.encode(img, text: [(String(repeating: "k", count: 79), "")]))
    }

    func testTensorToImageMatchesDiffusersRounding() throws {
        let f32 = Self.fixture.rounding["f32"]!
        let t = Tensor(f32.bits.map { Float(bitPattern: $0) }, shape: f32.shape)
        let img = try PNGImage(tensor: t)
        XCTAssertEqual(img.width, 16); XCTAssertEqual(img.height, 16); XCTAssertEqual(img.channels, 3)
        XCTAssertEqual(img.pixels, f32.rgb, "f32 postprocess")
        XCTAssertEqual(try PNGImage(tensor: t.select(dim: 0, index: 0)).pixels, f32.rgb, "(3,H,W) input")

        let bf = Self.fixture.rounding["bf16"]!
        let tb = Tensor.fromHost(bf.bits.map { UInt16($0) }, shape: bf.shape, dtype: .bf16)
        XCTAssertEqual(try PNGImage(tensor: tb).pixels, bf.rgb, "bf16 postprocess (denormalize rounded in bf16)")

        XCTAssertThrowsError(try PNGImage(tensor: Tensor.zeros([2, 3, 4, 4])))
        XCTAssertThrowsError(try PNGImage(tensor: Tensor.zeros([4, 4, 3])))
    }

    func testImageToTensorMatchesDiffusersPreprocess() throws {
        let p = Self.fixture.rounding["preprocess"]!
        let img = try PNGImage(width: 16, height: 16, channels: 3, pixels: p.rgb)
        let t = img.tensor()
        XCTAssertEqual(t.shape, p.shape)
        XCTAssertEqual(t.floats().map(\.bitPattern), p.bits)
        // and back: every byte value survives image -> tensor -> image
        XCTAssertEqual(try PNGImage(tensor: t), img)
    }

    // MARK: helpers (an independent chunk reader for the tests)

    struct ChunkRange { let type: String; let start: Int; let data: Range<Int> }

    func chunkRanges(_ b: [UInt8]) -> [ChunkRange] {
        var out: [ChunkRange] = []
        var at = 8
        while at + 8 <= b.count {
            let n = Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
            out.append(ChunkRange(type: String(decoding: b[(at + 4)..<(at + 8)], as: UTF8.self), start: at, data: (at + 8)..<(at + 8 + n)))
            at += 12 + n
        }
        return out
    }

    func chunkTypes(_ b: [UInt8]) -> [String] { chunkRanges(b).map(\.type) }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = Self.crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    func fixCRC(_ b: inout [UInt8], _ c: ChunkRange) {
        let v = crc(b[(c.start + 4)..<c.data.upperBound])
        for k in 0..<4 { b[c.data.upperBound + k] = UInt8((v >> (24 - 8 * UInt32(k))) & 0xFF) }
    }

    func makeChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        var out: [UInt8] = [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + Array(type.utf8) + data
        let v = crc(out[4...])
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        return out
    }
}
