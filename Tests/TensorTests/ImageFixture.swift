import Foundation
import Tensor

/// The image fixtures (Tools/make_image_fixtures.py: Pillow 13 and OpenCV outputs) and helpers to load them.
enum ImageFixture {
    struct Decode: Decodable { let file: String; let expected: String }
    struct Orient: Decodable { let file: String; let orientation: Int; let expected: String }
    struct Resize: Decodable { let source: String; let mode: String; let width: Int; let height: Int; let expected: String }
    struct Luma: Decodable { let source: String; let expected: String }
    struct Blur: Decodable { let source: String; let radius: Float; let expected: String }
    struct CannyCase: Decodable { let source: String; let low: Double; let high: Double; let expected: String }
    struct Refused: Decodable { let file: String; let contains: String }
    struct Manifest: Decodable {
        let pillow: String; let opencv: String
        let decode: [Decode]; let orient: [Orient]; let resize: [Resize]; let luma: [Luma]
        let blur: [Blur]; let canny: [CannyCase]; let refused: [Refused]
    }

    static let dir = Bundle.module.url(forResource: "images", withExtension: nil, subdirectory: "Fixtures")!
    static let manifest: Manifest = try! JSONDecoder().decode(
        Manifest.self, from: Data(contentsOf: dir.appendingPathComponent("images.json")))

    static func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: dir.appendingPathComponent(name))) }
    /// A fixture PNG through the (separately tested) PNG decoder.
    static func png(_ name: String) throws -> PNGImage { try PNG.decode(bytes(name), source: name).image }
    /// The first channel of a fixture PNG: the L plane of a grayscale PNG (decoded as RGB with equal channels).
    static func plane(_ name: String) throws -> [UInt8] {
        let img = try png(name)
        return (0..<(img.width * img.height)).map { img.pixels[$0 * img.channels] }
    }

    /// The share of equal bytes and the first differing index, for messages.
    static func compare(_ a: [UInt8], _ b: [UInt8]) -> (same: Double, firstDiff: Int?) {
        guard a.count == b.count, !a.isEmpty else { return (0, 0) }
        let same = zip(a, b).filter { $0 == $1 }.count
        return (Double(same) / Double(a.count), a.indices.first { a[$0] != b[$0] })
    }
}
