import Foundation
import Models
import Tensor
import XCTest

/// The console page's picture inputs (#18) in real headless Chromium: choose an input picture, paint a
/// mask stroke with the brush, generate, and check on the server's side that the job carried the
/// picture and a mask whose white is where the stroke went; then "use as input" and "reuse".
final class ConsoleConditioningBrowserTests: XCTestCase {
    func testUploadPaintAMaskGenerateAndReuse() async throws {
        let console = try await TestConsole.start()
        let folder = TestConsole.freshOutputDirectory()
        let picture = try TestPictures.image(width: 64, height: 64)
        let path = try TestPictures.write(try TestPictures.png(picture), "input.png", in: folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await ChromeDevTools.drive(console) { try await drive($0, console, path: path, picture: picture) }
    }

    private func drive(_ browser: ChromeDevTools, _ console: TestConsole, path: String, picture: PNGImage) async throws {
        func value(_ js: String) async throws -> Any? { try await browser.evaluate(js) }
        try await browser.attachToPage()
        try await browser.call("Emulation.setDeviceMetricsOverride", ["width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false])
        try await browser.call("Page.enable")
        try await browser.call("Runtime.enable")
        try await browser.call("DOM.enable")
        try await browser.call("Page.navigate", ["url": console.base + "/"])
        try await browser.waitFor("document.readyState === 'complete' && document.title === 'Flux 离线图像生成控制台'", timeout: 20)
        try await browser.waitFor("document.getElementById('model-status').classList.contains('ready')", timeout: 30)
        // A base model: the input picture's section shows; the control and reference ones do not.
        try await browser.waitFor("!document.getElementById('image-section').hidden && document.getElementById('control-section').hidden && document.getElementById('reference-section').hidden", timeout: 10)

        // Choose the file as the file dialog would.
        let root = try await browser.call("DOM.getDocument")
        let rootID = try XCTUnwrap((root["root"] as? [String: Any])?["nodeId"] as? Int)
        let input = try await browser.call("DOM.querySelector", ["nodeId": rootID, "selector": "#image-file"])
        try await browser.call("DOM.setFileInputFiles", ["files": [path], "nodeId": try XCTUnwrap(input["nodeId"] as? Int)])
        try await browser.waitFor("!document.getElementById('image-panel').hidden && document.getElementById('mask-canvas').width === 64", timeout: 10)
        let size = try await value("[document.getElementById('width').value, document.getElementById('height').value].join('x')") as? String
        XCTAssertEqual(size, "64x64",
                       "the size fields take the picture's size")

        // Paint one horizontal stroke across the upper-left quarter with a 6 px brush.
        _ = try await value("(() => { const b = document.getElementById('brush-size'); b.value = 6; b.dispatchEvent(new Event('input')); })()")
        let box = try await value("""
            (() => { const c = document.getElementById('mask-canvas'); c.scrollIntoView({block: 'center'});
                     const r = c.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()
            """) as? [Double] ?? []
        XCTAssertEqual(box.count, 4)
        let (x0, y, x1) = (box[0] + box[2] * 0.1, box[1] + box[3] * 0.25, box[0] + box[2] * 0.4)
        try await browser.call("Input.dispatchMouseEvent", ["type": "mouseMoved", "x": x0, "y": y])
        try await browser.call("Input.dispatchMouseEvent", ["type": "mousePressed", "x": x0, "y": y, "button": "left", "buttons": 1, "clickCount": 1])
        for i in 1...8 {
            let x = x0 + (x1 - x0) * Double(i) / 8
            try await browser.call("Input.dispatchMouseEvent", ["type": "mouseMoved", "x": x, "y": y, "button": "left", "buttons": 1])
        }
        try await browser.call("Input.dispatchMouseEvent", ["type": "mouseReleased", "x": x1, "y": y, "button": "left", "buttons": 0, "clickCount": 1])
        let painted = try await value("majicfluxPictures.hasMask()") as? Bool
        XCTAssertEqual(painted, true)

        _ = try await value("(() => { const s = document.getElementById('steps'); s.value = 1; s.dispatchEvent(new Event('input')); })()")
        _ = try await value("(() => { const s = document.getElementById('strength'); s.value = '0.7'; s.dispatchEvent(new Event('input')); })()")
        try await browser.click(selector: "#prompt")
        try await browser.type("a red circle")
        try await browser.click(selector: "#generate")
        try await browser.waitFor("document.getElementById('result-image').dataset.final === '1'", timeout: 60)

        // Server side: the job carried the picture as chosen and the painted mask.
        let history = try await console.get("/api/history").json
        let items = try XCTUnwrap(history["items"] as? [[String: Any]])
        let conditioning = try XCTUnwrap((items.first?["parameters"] as? [String: Any])?["conditioning"] as? [String: Any])
        XCTAssertEqual(conditioning["mode"] as? String, "inpaint")
        XCTAssertEqual(conditioning["strength"] as? Double, 0.7)
        let inputs = try XCTUnwrap(conditioning["inputs"] as? [String: [String: Any]])
        let image = try PNG.decode(Array(try await console.get(try XCTUnwrap(inputs["image"]?["url"] as? String)).body)).image
        XCTAssertEqual(image, picture, "the picture arrives as chosen")
        let mask = try PNG.decode(Array(try await console.get(try XCTUnwrap(inputs["mask"]?["url"] as? String)).body)).image
        XCTAssertEqual([mask.width, mask.height], [64, 64])
        func luma(_ x: Int, _ y: Int) -> UInt8 { mask.pixels[(y * mask.width + x) * mask.channels] }
        XCTAssertGreaterThanOrEqual(luma(16, 16), 128, "white where the stroke went")
        XCTAssertGreaterThanOrEqual(luma(24, 16), 128)
        XCTAssertLessThan(luma(16, 40), 128, "black below it")
        XCTAssertLessThan(luma(56, 16), 128, "black right of it")

        // "Use as input" puts the result into the picture slot (its own size, an empty mask).
        try await browser.click(selector: "#use-result")
        try await browser.waitFor("document.getElementById('mask-canvas').width === 64 && !majicfluxPictures.hasMask() && document.getElementById('image-preview').src.startsWith('blob:')", timeout: 10)
        // "Reuse" on the history item restores the picture, the mask and the strength.
        _ = try await value("(() => { const s = document.getElementById('strength'); s.value = '0.3'; s.dispatchEvent(new Event('input')); })()")
        try await browser.click(selector: "#history .item button")
        try await browser.waitFor("majicfluxPictures.hasMask() && document.getElementById('strength').value === '0.7'", timeout: 10)
    }
}
