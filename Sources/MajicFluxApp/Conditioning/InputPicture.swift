import Foundation
import Models
import Tensor

/// Every picture the app reads as an input (the CLI's `--image`/`--mask`/`--control`/`--reference`
/// files, the console's uploads) goes through here, so that the decoder is one line to change.
enum InputPicture {
    /// A picture that cannot be used, with the message to show (naming the file or the field).
    struct Problem: Error, CustomStringConvertible {
        let description: String
        /// The picture is larger than allowed (HTTP 413) rather than unreadable (400).
        let tooLarge: Bool
        init(_ message: String, tooLarge: Bool = false) {
            description = message
            self.tooLarge = tooLarge
        }
    }

    /// Reads and decodes the file at `path`; errors name the path.
    static func load(path: String) throws -> PNGImage {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw Problem("no such file \(path)") }
        if isFolder.boolValue { throw Problem("\(path) is a folder; give a PNG, JPEG or WebP file") }
        // A device or a FIFO would be read forever (or fail with a misleading reason).
        if let kind = MappedFile.irregularKind(path) { throw Problem("\(path) is not a regular file (\(kind)); give a PNG, JPEG or WebP file") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Problem("cannot read \(path): \(error.localizedDescription)")
        }
        return try decode(bytes: [UInt8](data), source: path)
    }

    /// Decodes an encoded picture; `source` names it in errors (a path, "the image field"). The size
    /// in the file's header is checked against `GenerationLimits.inputPixels` before any pixel is
    /// decoded (`maxPixels`), so a small file claiming a huge picture (an image bomb) costs nothing.
    static func decode(bytes: [UInt8], source: String, maxPixels: Int = GenerationLimits.inputPixels) throws -> PNGImage {
        guard let format = PictureHeader.format(bytes) else {
            throw Problem("\(source) is not a PNG, JPEG or WebP picture" + (bytes.isEmpty ? " (it is empty)" : ""))
        }
        if let (w, h) = PictureHeader.size(bytes) {
            if w <= 0 || h <= 0 { throw Problem("\(source) is a corrupt \(format) file (its size is \(w)x\(h))") }
            let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
            if overflow || pixels > maxPixels {
                throw Problem("\(source) is \(w)x\(h), more than the \(maxPixels) pixels an input picture may have", tooLarge: true)
            }
        }
        do {
            return try ImageFile.decode(bytes, source: source, maxPixels: maxPixels)
        } catch let p as Problem {
            throw p
        } catch let e as TensorError {
            throw Problem("\(source) cannot be read as a picture: \(e)")
        }
    }
}

/// What a picture file's first bytes say, read without decoding it.
enum PictureHeader {
    /// "PNG", "JPEG", "WebP" or nil (`ImageFile.format`).
    static func format(_ b: [UInt8]) -> String? { ImageFile.format(of: b)?.rawValue }

    /// Width and height from a PNG's IHDR, a JPEG's first SOF marker or a WebP's bitstream header;
    /// nil when not found.
    static func size(_ b: [UInt8]) -> (width: Int, height: Int)? {
        func be16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        func be32(_ i: Int) -> Int { be16(i) << 16 | be16(i + 2) }
        switch format(b) {
        case "PNG"?:
            guard b.count >= 24, b[12..<16].elementsEqual(Array("IHDR".utf8)) else { return nil }
            return (be32(16), be32(20))
        case "JPEG"?:
            var i = 2
            while i + 9 < b.count {
                guard b[i] == 0xFF else { return nil }
                let marker = b[i + 1]
                if marker == 0xFF { i += 1; continue }            // fill bytes
                if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { i += 2; continue }
                // SOF0...SOF15 except DHT (C4), JPG (C8) and DAC (CC): height then width.
                if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) { return (be16(i + 7), be16(i + 5)) }
                if marker == 0xDA || marker == 0xD9 { return nil }  // scan or end before any frame header
                i += 2 + be16(i + 2)
            }
            return nil
        case "WebP"?: return WebP.size(b)
        default: return nil
        }
    }
}
