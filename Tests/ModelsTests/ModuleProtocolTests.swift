import XCTest
import Models
import Quant
import Tensor

/// A block of a test model, written as a contributor adds a layer: `extra` is one field and one
/// `visit` line; loading, the missing-tensor report, byte counts, streaming and quantization must
/// all pick it up with no edit anywhere else.
struct ProofBlock: Module {
    var norm = RMSNorm(dim: 8, eps: 1e-6)
    var up: any LinearLayer = Linear(in: 8, out: 16)
    var down: any LinearLayer = Linear(in: 16, out: 8, bias: false)
    var extra: any LinearLayer = Linear(in: 8, out: 8)  // the added layer

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("norm", &norm)
        try v.linear("up", &up)
        try v.linear("down", &down)
        try v.linear("extra", &extra)  // the added line
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = down(up.geluTanh(norm(x)))
        return x + extra(h)
    }
}

final class ModuleProtocolTests: XCTestCase {
    static let blocks = 3

    /// Every tensor of the test model (blocks scaled differently, so a block from the wrong slot shows).
    static func weights(dropping: String? = nil) -> [String: Tensor] {
        var t: [String: Tensor] = [:]
        for i in 0..<blocks {
            let f = Float(1 + i) * 0.1, p = "blocks.\(i)."
            t[p + "norm.weight"] = TorchGenerator(seed: UInt64(10 + i)).randn([8]) + 1
            t[p + "up.weight"] = TorchGenerator(seed: UInt64(20 + i)).randn([16, 8]) * f
            t[p + "up.bias"] = TorchGenerator(seed: UInt64(30 + i)).randn([16]) * f
            t[p + "down.weight"] = TorchGenerator(seed: UInt64(40 + i)).randn([8, 16]) * f
            t[p + "extra.weight"] = TorchGenerator(seed: UInt64(50 + i)).randn([8, 8]) * f
            t[p + "extra.bias"] = TorchGenerator(seed: UInt64(60 + i)).randn([8]) * f
        }
        if let dropping { t[dropping] = nil }
        return t
    }

    static func load(_ tensors: [String: Tensor], quantization: LinearQuantization? = nil) throws -> [ProofBlock] {
        let w = WeightLoader(DictionaryWeights(tensors), component: "proof model")
        w.quantization = quantization
        var blocks = [ProofBlock](repeating: ProofBlock(), count: Self.blocks)
        try w.load(&blocks, at: ["blocks"])
        try w.finish()
        return blocks
    }

    static func run(_ blocks: [ProofBlock], streamer: BlockStreamer? = nil) -> [Float] {
        var x = TorchGenerator(seed: 99).randn([1, 5, 8]).moved(to: blocks[0].norm.weight.backend)
        for (i, b) in blocks.enumerated() {
            streamer?.acquire(i)
            x = b(x)
            streamer?.release(i)
        }
        return x.floats()
    }

    func testTheAddedLayerIsLoadedReportedAndCounted() throws {
        let tensors = Self.weights()
        let blocks = try Self.load(tensors)
        let extra = try XCTUnwrap(blocks[1].extra as? Linear)
        XCTAssertEqual(extra.weight.floats(), tensors["blocks.1.extra.weight"]!.floats())
        XCTAssertEqual(extra.bias?.floats(), tensors["blocks.1.extra.bias"]!.floats())
        XCTAssertEqual(blocks.weightByteCount, tensors.values.reduce(0) { $0 + $1.byteCount })
        XCTAssertTrue(blocks[0].namedParameters.map(\.name).contains("extra.weight"))

        XCTAssertThrowsError(try Self.load(Self.weights(dropping: "blocks.2.extra.weight"))) { error in
            XCTAssertTrue("\(error)".contains("missing blocks.2.extra.weight [8, 8]"), "\(error)")
        }
        var extraTensors = tensors
        extraTensors["blocks.0.extra.weight"] = Tensor.zeros([8, 9])
        extraTensors["blocks.0.stray"] = Tensor.zeros([1])
        XCTAssertThrowsError(try Self.load(extraTensors)) { error in
            XCTAssertTrue("\(error)".contains("blocks.0.extra.weight: checkpoint has shape [8, 9], model expects [8, 8]"), "\(error)")
            XCTAssertTrue("\(error)".contains("unexpected blocks.0.stray"), "\(error)")
        }
    }

    func testTheAddedLayerIsQuantizedWhenThePolicySelectsIt() throws {
        let policy = QuantPolicy(format: .int8, granularity: .channel, selects: { name, _ in name.hasSuffix(".extra.weight") })
        let dense = try Self.load(Self.weights())
        let blocks = try Self.load(Self.weights(), quantization: LinearQuantization(policy: policy))
        for b in blocks {
            XCTAssertTrue(b.extra is CPUQuantizedLinear)
            XCTAssertTrue(b.up is Linear && b.down is Linear)
        }
        // int8 codes: a quarter of the f32 weight, plus a scale per row.
        XCTAssertEqual(dense.weightByteCount - blocks.weightByteCount, Self.blocks * (8 * 8 * 4 - (8 * 8 + 8 * 4)))
        let (a, b) = (Self.run(dense), Self.run(blocks))
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(Double(zip(a, b).map { abs($0 - $1) }.max()!), 0, accuracy: 0.05)
    }

    func testTheAddedLayerStreams() throws {
        let tensors = Self.weights()
        let resident = try Self.load(tensors)
        let expected = Self.run(resident)
        let backend = CapabilityTestBackend()
        let streamer = try BlockStreamer(backend: backend, slots: 1)
        let w = WeightLoader(DictionaryWeights(tensors), component: "proof model")
        let host = try streamer.adoptLoading([ProofBlock](repeating: ProofBlock(), count: Self.blocks), key: "blocks", from: w)
        try w.finish()
        // Each block's region holds all its tensors, the added layer's included (256-byte aligned).
        XCTAssertTrue(host[0].namedParameters.map(\.name).contains("extra.weight"))
        var total = 0
        for t in host[0].parameterTensors { total = (total + 255) / 256 * 256 + t.byteCount }
        XCTAssertEqual(streamer.size(of: 0), total)
        // One slot and room for one more block: the first stays resident, the other two stream.
        try streamer.place(budget: 2 * streamer.size(of: 0), what: "proof model")
        XCTAssertEqual(streamer.residentCount, 1)
        let device = try streamer.deviceBlocks(host, first: 0)
        XCTAssertEqual(Self.run(device, streamer: streamer), expected)
        XCTAssertEqual(Self.run(device, streamer: streamer), expected, "a second pass from the refilled slots")
        XCTAssertGreaterThan(backend.copiesRun, 0)
    }

    /// Linears are swapped by name after loading (what adapters will do): a DiT layer replaced by an
    /// int8 one changes the output a little, and only that layer changes.
    func testReplaceLinearsSwapsOneLayerByName() throws {
        let dir = Bundle.module.resourcePath! + "/Fixtures/tiny-models"
        let source = try FluxCheckpointLayout.canonical(CheckpointWeights(path: dir + "/flux-comfy.safetensors"))
        let config = try FluxConfig.infer(shape: source.shape(of:), names: source.names)
        var dit = try FluxTransformer(config: config, weights: source)
        let c = dit.config
        func run() -> [Float] {
            let img = TorchGenerator(seed: 1).randn([1, 12, c.inChannels])
            let txt = TorchGenerator(seed: 2).randn([1, 8, c.jointAttentionDim])
            let pooled = TorchGenerator(seed: 3).randn([1, c.pooledProjectionDim])
            return dit(img: img, height: 3, width: 4, txt: txt, pooled: pooled, timestep: [0.6], guidance: [3.5]).floats()
        }
        let before = run(), bytes = dit.weightByteCount
        var seen: [String] = []
        try dit.replaceLinears { name, layer in
            seen.append(name)
            guard name == "double_blocks.0.img_attn.qkv", let dense = layer as? Linear else { return nil }
            let q = try QuantizedWeight.quantize(dense.weight.to(.f32), format: .int8, granularity: .channel)
            return CPUQuantizedLinear(try QuantizedLinear(weight: q, bias: dense.bias))
        }
        XCTAssertTrue(seen.contains("final_layer.linear") && seen.contains("single_blocks.0.linear1"), "\(seen)")
        XCTAssertTrue(seen.contains("double_blocks.0.img_mod.lin"), "nested Linears are offered too: \(seen)")
        let names = dit.namedParameters.map(\.name)
        XCTAssertTrue(names.contains("double_blocks.0.img_attn.qkv.weight_scale"))
        XCTAssertFalse(names.contains("double_blocks.0.txt_attn.qkv.weight_scale"))
        XCTAssertLessThan(dit.weightByteCount, bytes)
        let after = run()
        XCTAssertNotEqual(after, before)
        let scale = before.map(abs).max()!
        XCTAssertLessThan(zip(after, before).map { abs($0 - $1) }.max()!, 0.05 * scale)
    }
}
