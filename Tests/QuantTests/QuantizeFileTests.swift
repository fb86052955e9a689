import Foundation
import XCTest
import Tensor
import Quant

/// `QuantizeConverter.write(to:)` through real safetensors files: the output loads back through
/// `SafeTensorsCheckpoint` + `QuantizedCheckpoint` and equals in-memory quantisation exactly.
/// (Tools/check_quantized_file.py checks the same files against PyTorch's reader and ops.)
final class QuantizeFileTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "quant-file-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testWriteAndReadBack() throws {
        let src = QuantizeConverterTests.miniFlux()
        let input = dir + "in.safetensors"
        try SafeTensorsWriter.write(try src.tensorNames.map { ($0, try src.tensor(named: $0)) },
                                    metadata: src.metadataStrings, to: input)
        let p = "model.diffusion_model."
        for (fmt, gran) in [(QuantFormat.fp8e4m3fn, ScaleGranularity.none), (.fp8e4m3fn, .tensor),
                            (.fp8e5m2, .channel), (.int8, .block(32)), (.int4, .block(32))] {
            let output = dir + "out-\(fmt)-\(gran.description.replacingOccurrences(of: ":", with: "")).safetensors"
            let conv = try QuantizeConverter(source: try SafeTensorsCheckpoint(path: input), policy: .fluxDiT(format: fmt, granularity: gran))
            var layers: [String] = []
            let summary = try conv.write(to: output) { layers.append($0.layer) }
            XCTAssertEqual(layers.count, 3)
            XCTAssertEqual(summary.quantizedLayers, 3)
            let back = try QuantizedCheckpoint(path: output)
            XCTAssertEqual(Set(back.parameterNames), Set(src.tensorNames))
            XCTAssertEqual(back.source.metadataStrings[QuantKeys.formatMetadata], fmt.rawValue)
            for l in ["double_blocks.0.img_attn.qkv", "double_blocks.0.img_mlp.0", "single_blocks.0.linear2"].map({ p + $0 }) {
                let q = try back.linearWeight(l)
                let direct = try QuantizedWeight.quantize(try src.tensor(named: l + ".weight"), format: fmt, granularity: gran)
                XCTAssertEqual(q.format, fmt)
                XCTAssertEqual(q.data.hostBytes(), direct.data.hostBytes(), "\(fmt) \(gran) \(l)")
                XCTAssertEqual(q.dequantized().floats(), direct.dequantized().floats(), "\(fmt) \(gran) \(l)")
            }
            XCTAssertEqual(try back.tensor(named: p + "img_in.weight").hostBytes(), try src.tensor(named: p + "img_in.weight").hostBytes())
        }
    }

    func testMissingInputIsAnError() {
        XCTAssertThrowsError(try QuantizedCheckpoint(path: dir + "nope.safetensors"))
    }
}
