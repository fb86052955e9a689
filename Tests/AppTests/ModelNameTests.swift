import Foundation
@testable import MajicFluxApp
import XCTest

/// The served model's name: front ends match jobs to workers by it, and the infotext records it.
final class ModelNameTests: XCTestCase {
    /// A DiT under a name every diffusers folder uses is named by the folder holding it (a worker
    /// given `--dit .../transformer/diffusion_pytorch_model.safetensors` registered under that file
    /// name and matched no job); other files and folders keep their own names.
    func testADiTUnderAGenericNameIsNamedByItsFolder() {
        let cases: [(String?, String?, String)] = [
            ("/models/majicflus/transformer/diffusion_pytorch_model.safetensors", "/models/other", "majicflus"),
            ("/models/majicflus/transformer", nil, "majicflus"),
            ("/models/flux1-dev-q8_0.gguf", "/models/majicflus", "flux1-dev-q8_0.gguf"),
            ("diffusion_pytorch_model.safetensors", nil, "diffusion_pytorch_model.safetensors"),
            (nil, "/models/majicflus/", "majicflus"),
            (nil, nil, "default"),
        ]
        for (dit, model, expected) in cases {
            XCTAssertEqual(ModelOptions.displayName(dit: dit, model: model), expected, "\(String(describing: dit)) \(String(describing: model))")
        }
    }
}
