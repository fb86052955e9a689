import Foundation
import Models
import Tensor
import XCTest

/// `extra-single-image` / `extra-batch-images` (A1111's Extras tab with its built-in upscalers) on
/// the test server: the pictures are the library's upscalers' (themselves checked against Pillow
/// in HiresFixTests), the text A1111's.
final class A1111ExtrasTests: XCTestCase {
    private var console: TestConsole!

    override func setUp() async throws { console = try await TestConsole.start() }
    override func tearDown() async throws { await console.stop() }

    private func picture(_ w: Int, _ h: Int, seed: Int) throws -> PNGImage {
        try PNGImage(width: w, height: h, channels: 3, pixels: (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: ($0 * 37 + seed * 11) ^ ($0 >> 3)) })
    }

    private func answer(_ r: TestConsole.Reply) throws -> (image: PNGImage, text: [(key: String, value: String)]) {
        XCTAssertEqual(r.status, 200, r.text)
        return try PNG.decode([UInt8](try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(r.json["image"] as? String, r.text)))))
    }

    func testUpscalesByAFactorOrToASizeAsA1111() async throws {
        let input = try picture(20, 12, seed: 1)
        let withText = try input.pngData(text: [("parameters", "a cat\nSteps: 20, Seed: 1, Size: 20x12")])
        let b64 = Data(withText).base64EncodedString()

        let by = try answer(try await console.post("/sdapi/v1/extra-single-image", json: ["image": b64, "upscaler_1": "Lanczos", "upscaling_resize": 2]))
        XCTAssertEqual(by.image.pixels, try PictureUpscaler.lanczos.upscale(input, by: 2).pixels)
        XCTAssertEqual([by.image.width, by.image.height], [40, 24])
        XCTAssertEqual(by.text.first { $0.key == "parameters" }?.value, "a cat\nSteps: 20, Seed: 1, Size: 20x12", "the input's text is kept")
        XCTAssertEqual(by.text.first { $0.key == "postprocessing" }?.value, "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos")

        // To a size with crop: upscaled to cover 48x48 (x4 = 80x48), centred on a 48x48 canvas.
        let r = try await console.post("/sdapi/v1/extra-single-image", json: [
            "image": b64, "upscaler_1": "Nearest", "resize_mode": 1, "upscaling_resize_w": 48, "upscaling_resize_h": 48,
            "upscaler_2": "Lanczos", "extras_upscaler_2_visibility": 0.25,
        ])
        let to = try answer(r)
        XCTAssertEqual([to.image.width, to.image.height], [48, 48])
        let near = try PictureUpscaler.nearest.upscale(input, by: 4), lanczos = try PictureUpscaler.lanczos.upscale(input, by: 4)
        let x0 = 24 - near.width / 2
        for (x, y) in [(0, 0), (20, 7), (47, 47), (33, 30)] {
            let sx = x - x0
            for k in 0..<3 {
                let a = Float(near.pixels[(y * near.width + sx) * 3 + k]), b = Float(lanczos.pixels[(y * lanczos.width + sx) * 3 + k])
                XCTAssertEqual(to.image.pixels[(y * 48 + x) * 3 + k], UInt8(max(0, min(255, a + 0.25 * (b - a)))), "blend at \(x),\(y)")
            }
        }
        XCTAssertEqual(r.json["html_info"] as? String,
                       "<p>Postprocess upscale to: 48x48, Postprocess crop to: 48x48, Postprocess upscaler: Nearest, Postprocess upscaler 2: Lanczos</p>")

        // "None": the picture as it came (as RGB), no postprocessing text.
        let none = try answer(try await console.post("/sdapi/v1/extra-single-image", json: ["image": b64]))
        XCTAssertEqual(none.image.pixels, input.pixels)
        XCTAssertNil(none.text.first { $0.key == "postprocessing" })

        // A batch: one answer per picture, in order.
        let second = try picture(8, 8, seed: 2)
        let batch = try await console.post("/sdapi/v1/extra-batch-images", json: [
            "upscaler_1": "Lanczos", "upscaling_resize": 1.5,
            "imageList": [["data": b64, "name": "a.png"], ["data": Data(try second.pngData()).base64EncodedString(), "name": "b.png"]],
        ])
        XCTAssertEqual(batch.status, 200, batch.text)
        let images = try XCTUnwrap(batch.json["images"] as? [String])
        XCTAssertEqual(images.count, 2)
        let b = try PNG.decode([UInt8](Data(base64Encoded: images[1])!)).image
        XCTAssertEqual(b.pixels, try PictureUpscaler.lanczos.upscale(second, by: 1.5).pixels)
    }

    func testBadBodiesAre422NamingTheField() async throws {
        let b64 = Data(try picture(8, 8, seed: 3).pngData()).base64EncodedString()
        for (body, field): ([String: Any], String) in [
            (["image": b64, "upscaler_1": "R-ESRGAN 4x+"], "upscaler_1"), (["image": b64, "upscaler_1": "Lanczos", "upscaler_2": "SwinIR_4x"], "upscaler_2"),
            (["image": b64, "upscaler_1": "Lanczos", "gfpgan_visibility": 1], "gfpgan_visibility"),
            (["image": b64, "upscaler_1": "Lanczos", "upscaling_resize": 0], "upscaling_resize"),
            (["image": b64, "upscaler_1": "Lanczos", "resize_mode": 3], "resize_mode"),
            (["image": b64, "upscaler_1": "Lanczos", "resize_mode": 1, "upscaling_resize_w": 16000, "upscaling_resize_h": 16000], "upscaling_resize_w"),
            (["image": "bm90IGEgcGljdHVyZQ==", "upscaler_1": "Lanczos"], "image"), (["upscaler_1": "Lanczos"], "image"),
            // Results under 8 pixels a side (they were 500s): by a small factor, a small maximum side, a small size.
            (["image": b64, "upscaler_1": "Lanczos", "upscaling_resize": 0.5], "upscaling_resize"),
            (["image": b64, "upscaler_1": "Lanczos", "max_side_length": 1], "upscaling_resize"),
            (["image": b64, "upscaler_1": "Lanczos", "resize_mode": 1, "upscaling_resize_w": 4, "upscaling_resize_h": 4], "upscaling_resize_w"),
        ] {
            let r = try await console.post("/sdapi/v1/extra-single-image", json: body)
            XCTAssertEqual(r.status, 422, "\(field): \(r.text)")
            XCTAssertEqual(((r.json["detail"] as? [[String: Any]])?.first?["loc"] as? [String]), ["body", field], r.text)
        }
        let empty = try await console.post("/sdapi/v1/extra-batch-images", json: ["imageList": [Any](), "upscaler_1": "Lanczos"])
        XCTAssertEqual(empty.status, 422, empty.text)
    }
}
