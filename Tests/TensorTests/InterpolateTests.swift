import XCTest
import Foundation
import Tensor

/// `interpolate` against PyTorch's `F.interpolate` and `ImageResize.nearest` against Pillow's NEAREST
/// (fixtures from Tools/make_interpolate_fixtures.py).
final class InterpolateTests: XCTestCase {
    func testMatchesTorchInterpolateForEveryLatentUpscaleMode() throws {
        let fixture = try ElemFixture("interpolate")
        XCTAssertEqual(fixture.cases.count, 30)
        var modes = Set<String>()
        for name in fixture.cases.keys.sorted() {
            let entry = fixture.entry(name)
            let mode = try XCTUnwrap(InterpolationMode(rawValue: entry["mode"] as! String), name)
            let antialias = fixture.bool(name, "antialias")
            modes.insert("\(mode)\(antialias)")
            let y = interpolate(fixture.input(name, "x"), height: fixture.int(name, "height"), width: fixture.int(name, "width"),
                                mode: mode, antialias: antialias)
            elemAssertClose(y, fixture.output(name), rtol: 1e-5, atol: 5e-6, name)  // f32 rounding of values about 1
        }
        XCTAssertEqual(modes.count, 6, "every mode A1111's latent upscalers use is covered")
    }

    func testSameSizeIsTheIdentityAndRowsStayApart() {
        let values: [Float] = (0..<120).map { (i: Int) -> Float in Float(i) * 0.37 - 4 }
        let x = Tensor(values, shape: [2, 3, 4, 5])
        for mode in InterpolationMode.allCases {
            XCTAssertEqual(interpolate(x, height: 4, width: 5, mode: mode).floats(), values, "\(mode)")
        }
        // Nearest doubling repeats each value in a 2x2 block, plane by plane.
        let y = interpolate(x, height: 8, width: 10, mode: .nearest).floats()
        let plane = 1 * 3 + 2
        XCTAssertEqual(y[plane * 80 + 37], values[plane * 20 + 8])
    }

    func testMatchesPillowNearest() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "pillow_nearest", withExtension: "json", subdirectory: "Fixtures/ops"))
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let (w, h) = ((c["width"] as! NSNumber).intValue, (c["height"] as! NSNumber).intValue)
            let (ow, oh) = ((c["out_width"] as! NSNumber).intValue, (c["out_height"] as! NSNumber).intValue)
            let pixels = [UInt8](Data(base64Encoded: c["pixels"] as! String)!)
            let expected = [UInt8](Data(base64Encoded: c["expected"] as! String)!)
            let out = try ImageResize.nearest(pixels, width: w, height: h, channels: 3, toWidth: ow, toHeight: oh)
            XCTAssertEqual(out, expected, "\(w)x\(h) -> \(ow)x\(oh)")
            let image = try PNGImage(width: w, height: h, channels: 3, pixels: pixels).resizedNearest(width: ow, height: oh)
            XCTAssertEqual(image.pixels, expected)
        }
        XCTAssertThrowsError(try ImageResize.nearest([1, 2, 3], width: 2, height: 1, channels: 3, toWidth: 4, toHeight: 2))
        XCTAssertThrowsError(try ImageResize.nearest([1, 2, 3], width: 1, height: 1, channels: 3, toWidth: 0, toHeight: 2))
    }
}
