import Foundation
import XCTest
import Quant
import Tensor

/// The k-quant writers (Q6_K ... Q2_K) against ggml's reference C quantisers and the `gguf` package's
/// dequantiser, on Fixtures/gguf/kquants.gguf (Tools/make_gguf_kquant_fixtures.py): identical bytes,
/// bit-identical values; and `GGUFConverter` writing them.
final class GGUFKQuantTests: XCTestCase {
    static let path = Bundle.module.resourcePath! + "/Fixtures/gguf/kquants.gguf"
    static let kQuants: [GGMLType] = [.q6_K, .q5_K, .q4_K, .q3_K, .q2_K]

    func testQuantizedBytesAreIdenticalToGGMLsReferenceQuantizers() throws {
        let f = try GGUFFile(path: Self.path)
        for type in Self.kQuants {
            let name = type.name.lowercased()
            let source = try f.tensor(named: "\(name).source").floats()
            XCTAssertEqual(try f.info(named: "\(name).quantized").type, type)
            let reference = Array(try f.bytes(named: "\(name).quantized"))
            var ours = [UInt8](repeating: 0xAA, count: GGUFQuantize.byteCount(type, count: source.count))
            try source.withUnsafeBufferPointer { s in
                try ours.withUnsafeMutableBytes { try GGUFQuantize.quantize(type, from: s.baseAddress!, count: source.count, into: $0.baseAddress!) }
            }
            XCTAssertEqual(ours.count, reference.count, "\(type)")
            let differing = zip(ours, reference).enumerated().filter { $1.0 != $1.1 }.map(\.offset)
            XCTAssertTrue(differing.isEmpty, "\(type): \(differing.count) bytes differ from quantize_row_\(name)_ref, first at \(differing.first ?? -1) (block \((differing.first ?? 0) / type.typeSize))")
        }
    }

    func testDequantizedValuesAreBitIdenticalToGGUFPy() throws {
        let f = try GGUFFile(path: Self.path)
        for type in Self.kQuants {
            let name = type.name.lowercased()
            let ours = try f.tensor(named: "\(name).quantized", as: .f32).floats()
            let reference = try f.tensor(named: "\(name).quantized.expected").floats()
            XCTAssertEqual(ours.count, 2048)
            let (bad, first) = GGUFBlockTests.sameFloats(ours, reference)
            XCTAssertEqual(bad, 0, "\(type): \(bad) values differ from gguf.quants.dequantize, first \(first)")
        }
    }

    /// Error of each k-quant on normal values, in the order of their bits per weight (a sanity check
    /// of the scale searches: a broken search loses this ordering or the bounds).
    func testErrorsFallWithMoreBits() throws {
        var rng = SplitMix(seed: 5)
        let n = 256 * 64
        // Sum of 12 uniforms - 6: about normal.
        let x = (0..<n).map { _ in (0..<12).reduce(Float(0)) { a, _ in a + Float(rng.next() % 1_000_000) / 1_000_000 } - 6 }
        var errors: [Float] = []
        for type in Self.kQuants {
            var q = [UInt8](repeating: 0, count: GGUFQuantize.byteCount(type, count: n))
            var back = [Float](repeating: 0, count: n)
            try x.withUnsafeBufferPointer { s in
                try q.withUnsafeMutableBytes { try GGUFQuantize.quantize(type, from: s.baseAddress!, count: n, into: $0.baseAddress!) }
            }
            try q.withUnsafeBytes { r in try back.withUnsafeMutableBufferPointer { try GGUFDequantize.dequantize(type, from: r.baseAddress!, count: n, into: $0.baseAddress!) } }
            let e = (zip(x, back).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / x.map { $0 * $0 }.reduce(0, +)).squareRoot()
            errors.append(e)
        }
        // ggml's reference quantisers on normal data: 0.017, 0.036, 0.070, 0.148, 0.292 (bits 6.6 ... 2.6).
        for (type, (e, bound)) in zip(Self.kQuants, zip(errors, [Float(0.03), 0.06, 0.11, 0.22, 0.4])) {
            XCTAssertLessThan(e, bound, "\(type) relative error")
        }
        XCTAssertEqual(errors, errors.sorted(), "more bits, less error: \(errors)")
    }

    func testConverterWritesKQuantFilesThatReadBack() throws {
        let dir = NSTemporaryDirectory() + "/majicflux-gguf-kq-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix(seed: 3)
        let w = Tensor((0..<(32 * 512)).map { _ in Float(Int(rng.next() % 20001) - 10000) / 7000 }, shape: [32, 512]).to(.bf16)
        let narrow = Tensor((0..<(8 * 96)).map { _ in Float(Int(rng.next() % 201) - 100) / 70 }, shape: [8, 96]).to(.bf16)
        for type in Self.kQuants {
            let src = InMemoryTensorSource([("double_blocks.0.img_mlp.0.weight", w), ("double_blocks.0.img_mlp.2.weight", narrow)])
            let converter = try GGUFConverter(source: src, type: type)
            XCTAssertEqual(converter.quantizedLayerCount, 1, "rows of 96 are not whole super-blocks: kept")
            let path = dir + "/\(type.name).gguf"
            var reported: [QuantizeConverter.LayerReport] = []
            _ = try converter.write(to: path) { reported.append($0) }
            let f = try GGUFFile(path: path)
            XCTAssertEqual(try f.info(named: "double_blocks.0.img_mlp.0.weight").type, type)
            XCTAssertEqual(try f.info(named: "double_blocks.0.img_mlp.2.weight").type, .bf16)
            // The per-layer error report measures what the file holds.
            let back = try f.tensor(named: "double_blocks.0.img_mlp.0.weight").floats()
            let x = w.to(.f32).floats()
            let e = (zip(x, back).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / x.map { Double($0) * Double($0) }.reduce(0, +)).squareRoot()
            XCTAssertEqual(reported.count, 1)
            XCTAssertEqual(Double(reported[0].error.relativeError), e, accuracy: 1e-6 + e * 1e-4, "\(type)")
            XCTAssertGreaterThan(e, 0)
        }
    }
}
