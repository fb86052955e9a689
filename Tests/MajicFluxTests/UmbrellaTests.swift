import Foundation
import MajicFlux  // the only import: everything below comes through the umbrella product
import XCTest

/// The library product as another project uses it: `import MajicFlux` alone, the repository's
/// default model, `.auto` device, async generation, a PNG written.
final class UmbrellaTests: XCTestCase {
    static let defaultModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Models/default").path

    func testTheDefaultModelMakesAPNGThroughTheUmbrellaImport() async throws {
        let pipeline = try FluxPipeline(modelDirectory: Self.defaultModel, device: .cpu)
        var request = GenerationRequest(prompt: "a red circle on the left on a white background", seed: 1, steps: 2,
                                        width: 64, height: 64)
        request.maxSequenceLength = pipeline.preferredSequenceLength
        let image = try await pipeline.generate(request)
        XCTAssertEqual(image.width, 64)
        XCTAssertEqual(image.rgb.count, 64 * 64 * 3)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("umbrella-\(getpid()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try image.png.write(to: path)
        let (read, _) = try PNG.read(path)
        XCTAssertEqual(read.pixels, image.rgb, "the PNG holds the picture")
        let device: ComputeDevice = .auto
        XCTAssertEqual(device.description, "auto")
    }
}
