import Foundation
import XCTest
import Quant
import Tensor

/// `majicflux quantize --format gguf-*` underneath: GGUFConverter on a checkpoint with Flux block
/// names, read back by our reader (Tools/make_gguf_fixtures.py --check reads such files with gguf-py).
final class GGUFConverterTests: XCTestCase {
    func source() -> InMemoryTensorSource {
        var rng = SplitMix(seed: 11)
        func randn(_ shape: [Int], _ dtype: DType) -> Tensor {
            let n = shape.reduce(1, *)
            let v = (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 7000 }
            return Tensor(v, shape: shape).to(dtype)
        }
        return InMemoryTensorSource([
            ("model.diffusion_model.img_in.weight", randn([64, 64], .bf16)),
            ("model.diffusion_model.double_blocks.0.img_attn.qkv.weight", randn([96, 64], .bf16)),
            ("model.diffusion_model.double_blocks.0.img_attn.qkv.bias", randn([96], .bf16)),
            ("model.diffusion_model.double_blocks.0.img_attn.norm.query_norm.scale", randn([16], .f32)),
            ("model.diffusion_model.single_blocks.0.linear1.weight", randn([128, 64], .f16)),
            ("model.diffusion_model.single_blocks.0.linear2.weight", randn([64, 48], .f32)),  // 48: not whole blocks
        ])
    }

    func testEveryWritableTypeRoundTripsThroughTheFile() throws {
        let dir = NSTemporaryDirectory() + "/majicflux-gguf-conv-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The k-quants need rows of 256: GGUFKQuantTests converts wider weights.
        for type in GGMLType.quantizable where type.blockSize < 256 {
            let src = source()
            let converter = try GGUFConverter(source: src, type: type)
            // qkv and linear1; linear2's rows (48) are whole blocks only for the plain types.
            let plain = type.blockSize == 1
            XCTAssertEqual(converter.quantizedLayerCount, plain ? 3 : 2, "\(type)")
            let path = dir + "/\(type.name).gguf"
            var lines = 0
            let summary = try converter.write(to: path) { _ in lines += 1 }
            XCTAssertEqual(lines, plain ? 3 : 2)
            XCTAssertEqual(summary.tensors, 6)
            let f = try GGUFFile(path: path)
            XCTAssertEqual(f.architecture, "flux")
            XCTAssertEqual(f.metadata("majicflux.quant.format")?.string, "gguf-" + type.name.lowercased())
            XCTAssertEqual(f.names, src.tensorNames, "names and order kept")
            for name in src.tensorNames {
                let original = try src.tensor(named: name)
                let info = try f.info(named: name)
                XCTAssertEqual(info.shape, original.shape, name)
                let selected = name.hasSuffix("qkv.weight") || name.hasSuffix("linear1.weight") || (plain && name.hasSuffix("linear2.weight"))
                if selected {
                    XCTAssertEqual(info.type, type, name)
                    let x = original.to(.f32).floats()
                    var want = [UInt8](repeating: 0, count: GGUFQuantize.byteCount(type, count: x.count))
                    try x.withUnsafeBufferPointer { s in try want.withUnsafeMutableBytes { try GGUFQuantize.quantize(type, from: s.baseAddress!, count: x.count, into: $0.baseAddress!) } }
                    XCTAssertEqual(Array(try f.bytes(named: name)), want, "\(type) \(name)")
                } else {
                    // Left alone: stored in its own precision, values unchanged.
                    XCTAssertEqual(info.type, [DType.bf16: GGMLType.bf16, .f16: .f16, .f32: .f32][original.dtype], name)
                    XCTAssertTrue(try f.tensor(named: name, as: .f32).floats() == original.to(.f32).floats(), "\(type) \(name) values kept")
                }
            }
            let report = try XCTUnwrap(converter.reports.first)
            XCTAssertEqual(report.layer, "model.diffusion_model.double_blocks.0.img_attn.qkv")
            if type == .q8_0 { XCTAssertLessThan(report.error.relativeError, 0.01) }
            if type == .q4_0 { XCTAssertLessThan(report.error.relativeError, 0.2); XCTAssertGreaterThan(report.error.relativeError, 0.01) }
            if type == .f32 { XCTAssertEqual(report.error.relativeError, 0) }
        }
    }

    func testRefusesTypesWithoutAReferenceQuantizer() {
        XCTAssertThrowsError(try GGUFConverter(source: source(), type: .iq4_XS)) { XCTAssertTrue("\($0)".contains("IQ4_XS"), "\($0)") }
    }
}
