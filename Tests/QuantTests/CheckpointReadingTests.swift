import Foundation
import XCTest
import Tensor
import Quant

/// Reading quantized checkpoints in their wild layouts (built in memory here) and the default policy.
/// Dequantized values are compared exactly with fp8 code value * scale computed independently.
final class CheckpointReadingTests: XCTestCase {
    /// A small weight and its e4m3fn codes.
    private func fp8Weight(rows: Int = 4, cols: Int = 8) -> (Tensor, [Float]) {
        let vals = (0..<(rows * cols)).map { Float(($0 * 37) % 29 - 14) * 0.37 }
        let t = Tensor(vals, shape: [rows, cols]).to(.f8e4m3fn)
        return (t, t.floats())
    }

    func testPlainFP8IsReadAsIs() throws {
        let (w, v) = fp8Weight()
        let ckpt = try QuantizedCheckpoint(InMemoryTensorSource([("double_blocks.0.img_attn.qkv.weight", w),
                                                                 ("double_blocks.0.img_attn.qkv.bias", Tensor.zeros([4], dtype: .bf16))]))
        XCTAssertEqual(ckpt.style, .plainFP8)
        let q = try ckpt.linearWeight("double_blocks.0.img_attn.qkv")
        XCTAssertEqual(q.format, .fp8e4m3fn)
        XCTAssertEqual(q.granularity, .none)
        XCTAssertEqual(q.dequantized().floats(), v)
        XCTAssertEqual(q.byteCount, 32)
    }

    func testComfyScaledFP8() throws {
        let (w, v) = fp8Weight()
        let prefix = "model.diffusion_model."
        let src = InMemoryTensorSource([
            (prefix + "scaled_fp8", Tensor.zeros([0], dtype: .f8e4m3fn)),
            (prefix + "single_blocks.3.linear2.weight", w),
            (prefix + "single_blocks.3.linear2.scale_weight", Tensor([0.125], shape: [])),
            (prefix + "single_blocks.3.linear2.scale_input", Tensor([2.5], shape: [1])),
            (prefix + "single_blocks.3.linear2.bias", Tensor.zeros([4], dtype: .bf16)),
        ])
        let ckpt = try QuantizedCheckpoint(src)
        XCTAssertEqual(ckpt.style, .comfyScaledFP8)
        XCTAssertEqual(ckpt.markerFormat, .fp8e4m3fn)
        XCTAssertEqual(ckpt.parameterNames, [prefix + "single_blocks.3.linear2.weight", prefix + "single_blocks.3.linear2.bias"])
        let q = try ckpt.linearWeight(prefix + "single_blocks.3.linear2")
        XCTAssertEqual(q.granularity, .tensor)
        XCTAssertEqual(q.inputScale, 2.5)
        XCTAssertEqual(q.dequantized().floats(), v.map { $0 * 0.125 })
        XCTAssertEqual(try ckpt.tensor(named: prefix + "single_blocks.3.linear2.weight").floats(), v.map { $0 * 0.125 })
    }

    func testWeightScaleLayouts() throws {
        let (w, v) = fp8Weight(rows: 4, cols: 8)
        let channel: [Float] = [1, 2, 4, 0.5]
        let blocks: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]  // [4, 2] -> block 4
        let tiles: [Float] = [0.5, 0.25]                 // [2, 1] -> 2x8 tiles
        let src = InMemoryTensorSource([
            ("a.weight", w), ("a.weight_scale", Tensor(channel, shape: [4, 1]).to(.bf16)), ("a.input_scale", Tensor([3], shape: [])),
            ("b.weight", w), ("b.weight_scale", Tensor(blocks, shape: [4, 2])),
            ("c.weight", w), ("c.weight_scale", Tensor(tiles, shape: [2, 1])),
            ("d.weight", w), ("d.weight_scale", Tensor([1, 2, 3], shape: [3])),
        ])
        let ckpt = try QuantizedCheckpoint(src)
        XCTAssertEqual(ckpt.style, .weightScale)
        let a = try ckpt.linearWeight("a")
        XCTAssertEqual(a.granularity, .channel)
        XCTAssertEqual(a.inputScale, 3)
        XCTAssertEqual(a.dequantized().floats(), (0..<32).map { v[$0] * channel[$0 / 8] })
        let b = try ckpt.linearWeight("b")
        XCTAssertEqual(b.granularity, .block(4))
        XCTAssertEqual(b.dequantized().floats(), (0..<32).map { v[$0] * blocks[($0 / 8) * 2 + ($0 % 8) / 4] })
        let c = try ckpt.linearWeight("c")
        XCTAssertEqual(c.dequantized().floats(), (0..<32).map { v[$0] * tiles[$0 / 16] })
        XCTAssertThrowsError(try ckpt.linearWeight("d")) { e in
            XCTAssertTrue("\(e)".contains("d.weight_scale"), "\(e)")
        }
        XCTAssertThrowsError(try ckpt.linearWeight("missing"))
    }

    /// Our int8/int4 layouts read back to the same weights that were quantized.
    func testInt8AndInt4RoundTripThroughKeys() throws {
        let vals = (0..<(6 * 64)).map { sin(Float($0) * 0.37) * 0.2 }
        let w = Tensor(vals, shape: [6, 64])
        for (fmt, gran) in [(QuantFormat.int8, ScaleGranularity.channel), (.int4, .block(32)), (.fp8e5m2, .block(16))] {
            let q = try QuantizedWeight.quantize(w, format: fmt, granularity: gran)
            let src = InMemoryTensorSource([("l.weight", q.data), ("l.weight_scale", q.scales!)],
                                           metadata: [QuantKeys.formatMetadata: fmt.rawValue])
            let back = try QuantizedCheckpoint(src).linearWeight("l")
            XCTAssertEqual(back.format, fmt)
            XCTAssertEqual(back.granularity, gran)
            XCTAssertEqual(back.dequantized().floats(), q.dequantized().floats(), "\(fmt)")
        }
        // u8 data with a scale but no int4 declaration is refused (could be nvfp4 or anything else).
        let q4 = try QuantizedWeight.quantize(w, format: .int4, granularity: .block(32))
        XCTAssertThrowsError(try QuantizedCheckpoint(InMemoryTensorSource([("l.weight", q4.data), ("l.weight_scale", q4.scales!)])).linearWeight("l"))
    }

    func testFluxPolicy() {
        let p = QuantPolicy.fluxDiT(format: .fp8e4m3fn, granularity: .tensor)
        let yes = ["double_blocks.0.img_attn.qkv.weight", "double_blocks.18.txt_mlp.2.weight", "double_blocks.3.img_mod.lin.weight",
                   "single_blocks.37.linear1.weight", "single_blocks.0.modulation.lin.weight",
                   "model.diffusion_model.single_blocks.5.linear2.weight",
                   "transformer_blocks.0.attn.to_q.weight", "single_transformer_blocks.2.proj_out.weight"]
        let no = ["img_in.weight", "txt_in.weight", "time_in.in_layer.weight", "vector_in.out_layer.weight",
                  "guidance_in.in_layer.weight", "final_layer.linear.weight", "final_layer.adaLN_modulation.1.weight",
                  "double_blocks.0.img_attn.qkv.bias", "double_blocks.0.img_attn.norm.query_norm.scale",
                  "proj_out.weight", "x_embedder.weight", "context_embedder.weight", "norm_out.linear.weight",
                  "time_text_embed.timestep_embedder.linear_1.weight", "transformer_blocks.0.attn.norm_q.weight"]
        for n in yes { XCTAssertTrue(p.shouldQuantize(n, shape: [3072, 3072]), n) }
        for n in no { XCTAssertFalse(p.shouldQuantize(n, shape: n.hasSuffix(".weight") ? [3072, 3072] : [3072]), n) }
        XCTAssertFalse(p.shouldQuantize("double_blocks.0.img_attn.qkv.weight", shape: [9216]))
    }
}
