import Foundation
import XCTest
import Tensor
import Quant

/// The streaming converter, end to end in memory: plan, produce every entry in widest-first order (as
/// the safetensors writer does), read the result back with `QuantizedCheckpoint`.
final class QuantizeConverterTests: XCTestCase {
    /// A miniature Flux-like checkpoint in bf16 (BFL names, ComfyUI prefix).
    static func miniFlux() -> InMemoryTensorSource {
        let p = "model.diffusion_model."
        func t(_ shape: [Int], _ seed: Int) -> Tensor {
            let n = shape.reduce(1, *)
            return Tensor((0..<n).map { sin(Float($0 * 7 + seed) * 0.731) * 0.05 + (($0 + seed) % 97 == 0 ? 0.8 : 0) }, shape: shape).to(.bf16)
        }
        return InMemoryTensorSource([
            (p + "img_in.weight", t([32, 16], 1)), (p + "img_in.bias", t([32], 2)),
            (p + "double_blocks.0.img_attn.qkv.weight", t([96, 32], 3)), (p + "double_blocks.0.img_attn.qkv.bias", t([96], 4)),
            (p + "double_blocks.0.img_attn.norm.query_norm.scale", t([8], 5)),
            (p + "double_blocks.0.img_mlp.0.weight", t([128, 32], 6)),
            (p + "single_blocks.0.linear2.weight", t([32, 160], 7)),
            (p + "final_layer.linear.weight", t([16, 32], 8)),
        ], metadata: ["modelspec.title": "mini"])
    }

    private func convert(_ src: InMemoryTensorSource, _ policy: QuantPolicy) throws -> (QuantizeConverter, InMemoryTensorSource) {
        let conv = try QuantizeConverter(source: src, policy: policy)
        // Produce in the writer's alignment order (widest dtype first), like SafeTensorsWriter.alignedOrder.
        let order = conv.entries.enumerated().sorted { a, b in
            a.element.dtype.byteSize != b.element.dtype.byteSize ? a.element.dtype.byteSize > b.element.dtype.byteSize : a.offset < b.offset
        }.map(\.element)
        var out: [(String, Tensor)] = []
        for e in order {
            let t = try conv.tensor(for: e)
            XCTAssertEqual(t.dtype, e.dtype, e.name)
            XCTAssertEqual(t.shape, e.shape, e.name)
            out.append((e.name, t))
        }
        return (conv, InMemoryTensorSource(out, metadata: conv.metadata))
    }

    func testAllFormatsRoundTrip() throws {
        let src = Self.miniFlux()
        let p = "model.diffusion_model."
        let quantized = ["double_blocks.0.img_attn.qkv", "double_blocks.0.img_mlp.0", "single_blocks.0.linear2"].map { p + $0 }
        for (fmt, gran) in [(QuantFormat.fp8e4m3fn, ScaleGranularity.none), (.fp8e4m3fn, .tensor), (.fp8e4m3fn, .channel),
                            (.fp8e5m2, .block(32)), (.int8, .channel), (.int4, .block(32)), (.int4, .tensor)] {
            let (conv, out) = try convert(src, .fluxDiT(format: fmt, granularity: gran))
            XCTAssertEqual(conv.quantizedLayerCount, 3)
            XCTAssertEqual(conv.reports.count, 3)
            XCTAssertEqual(out.metadataStrings["modelspec.title"], "mini")
            XCTAssertEqual(out.metadataStrings[QuantKeys.formatMetadata], fmt.rawValue)
            let back = try QuantizedCheckpoint(out)
            XCTAssertEqual(Set(back.parameterNames), Set(src.tensorNames), "\(fmt) \(gran)")
            for l in quantized {
                let q = try back.linearWeight(l)
                XCTAssertEqual(q.format, fmt)
                // A block as wide as the row is a per-channel scale, and reads back as one.
                let cols = try src.tensorInfo(named: l + ".weight").shape[1]
                if case .block(let n) = gran, n >= cols { XCTAssertEqual(q.granularity, .channel) } else { XCTAssertEqual(q.granularity, gran) }
                let direct = try QuantizedWeight.quantize(try src.tensor(named: l + ".weight"), format: fmt, granularity: gran)
                XCTAssertEqual(q.data.hostBytes(), direct.data.hostBytes(), "\(fmt) \(gran) \(l)")
                XCTAssertEqual(q.dequantized().floats(), direct.dequantized().floats(), "\(fmt) \(gran) \(l)")
            }
            // Untouched tensors are byte-identical and keep their dtype.
            for n in ["img_in.weight", "img_in.bias", "double_blocks.0.img_attn.qkv.bias",
                      "double_blocks.0.img_attn.norm.query_norm.scale", "final_layer.linear.weight"].map({ p + $0 }) {
                XCTAssertEqual(try out.tensor(named: n).dtype, .bf16)
                XCTAssertEqual(try out.tensor(named: n).hostBytes(), try src.tensor(named: n).hostBytes(), n)
            }
            let style = back.style
            switch (fmt.isFloat8, gran) {
            case (true, .none): XCTAssertEqual(style, .plainFP8)
            case (true, .tensor):
                XCTAssertEqual(style, .comfyScaledFP8)
                XCTAssertTrue(out.tensorNames.contains(p + "scaled_fp8"))
                XCTAssertTrue(out.tensorNames.contains(p + "single_blocks.0.linear2.scale_weight"))
            default: XCTAssertEqual(style, .weightScale)
            }
            for r in conv.reports {
                XCTAssertEqual(r.error.nanCount, 0)
                // Loose sanity bounds: these weights have 16x outliers, which a per-tensor int4 scale handles badly.
                let bound = fmt == .int4 ? (gran == .tensor ? 0.6 : 0.3) : 0.1
                XCTAssertLessThan(r.error.relativeError, bound, "\(fmt) \(gran) \(r.layer)")
            }
        }
    }

    /// `--scale none --format fp8-e4m3fn` gives the plain cast (whose bytes equal PyTorch's, see the
    /// exhaustive codec tests), and `--overflow nan` switches the rule.
    func testPlainCastIsTensorConversion() throws {
        let big = Tensor([1, 500, -470, 464, 3, 0.001, -2, 460], shape: [2, 4])
        let src = InMemoryTensorSource([("double_blocks.0.img_mod.lin.weight", big)])
        let (_, sat) = try convert(src, .fluxDiT(format: .fp8e4m3fn, granularity: .none))
        XCTAssertEqual(try sat.tensor(named: "double_blocks.0.img_mod.lin.weight").hostBytes(), big.to(.f8e4m3fn).hostBytes())
        let (conv, nan) = try convert(src, .fluxDiT(format: .fp8e4m3fn, granularity: .none, overflow: .nan))
        let codes = try nan.tensor(named: "double_blocks.0.img_mod.lin.weight").hostBytes()
        XCTAssertEqual(codes, [1, 500, -470, 464, 3, 0.001, -2, 460].map { Float8E4M3FN.bits(from: $0, overflow: .nan) })
        XCTAssertEqual(codes[1], 0x7F)
        XCTAssertEqual(conv.reports[0].error.nanCount, 2)
        XCTAssertEqual(conv.reports[0].error.overflowCount, 2)
    }

    /// Re-quantizing an fp8 ComfyUI file: the old scales and marker are replaced; other companions stay.
    func testRequantizeScaledInput() throws {
        let (_, fp8) = try convert(Self.miniFlux(), .fluxDiT(format: .fp8e4m3fn, granularity: .tensor))
        let (conv, int8) = try convert(fp8, .fluxDiT(format: .int8, granularity: .channel))
        XCTAssertFalse(int8.tensorNames.contains { $0.hasSuffix("scale_weight") || $0.hasSuffix("scaled_fp8") })
        XCTAssertEqual(conv.quantizedLayerCount, 3)
        let back = try QuantizedCheckpoint(int8)
        XCTAssertEqual(try back.linearWeight("model.diffusion_model.single_blocks.0.linear2").format, .int8)
    }

    func testBadPoliciesThrow() {
        XCTAssertThrowsError(try QuantizeConverter(source: Self.miniFlux(), policy: .fluxDiT(format: .int8, granularity: .none)))
        XCTAssertThrowsError(try QuantizeConverter(source: Self.miniFlux(), policy: .fluxDiT(format: .bf16, granularity: .none)))
    }
}
