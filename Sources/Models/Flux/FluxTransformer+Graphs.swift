import Tensor

/// The DiT's blocks replayed as one captured graph where the backend can (`GraphCapturing`: CUDA
/// graphs). Every step of a generation runs the same ~1,200 kernels and GEMMs on the same shapes;
/// the first step with a new shape runs eagerly (it also makes the GEMM plans and lazy tables), the
/// second is captured and replayed, and later ones only copy their inputs (the image and text tokens
/// and the conditioning vector) into the graph's and replay it.
///
/// A graph is kept for one key: the inputs' shapes and dtypes, the token layout, the first block
/// run (1 when the step cache ran block 0 alone), a fingerprint of the blocks' weights (which
/// tensors, where: attaching or fusing a LoRA changes it) and the backend's `graphEpoch` (its
/// settings). Any change captures again. Streaming models never use graphs (their blocks move).
final class FluxBlockGraphs: Sendable {
    struct Key: Equatable {
        var shapes: [[Int]]
        var dtypes: [DType]
        var layout: FluxRoPE.Layout
        var first: Int
        var weights: Int
        var epoch: Int
    }

    private struct State {
        var key: Key?
        var eagerRuns = 0
        var graph: (any CapturedGraph)?
        /// The tensors the graph reads its inputs from, and what else it reads that must stay put.
        var inputs: [Tensor] = []
        var rope: FluxRoPE?
        /// A key whose capture the backend refused: run eagerly until the key changes.
        var refused: Key?
        var counts = BlockGraphUse()
    }

    private let state = Locked(State())
    /// Held while a graph is used; a second thread calling the same model meanwhile runs eagerly.
    private let busy = PThreadMutex()

    var counts: BlockGraphUse { state.withLock { $0.counts } }

    /// Counts a call run eagerly outside the cache (a generation's calibrating first step).
    func noteEagerRun() { state.withLock { $0.counts.eager += 1 } }

    /// `body(inputs)`: eagerly, or captured and replayed (see the type's notes). The returned
    /// tensors of a replay are the graph's own and are rewritten by its next replay: the caller
    /// queues what reads them before calling again.
    func run(_ backend: any GraphCapturing, key: Key, rope: FluxRoPE, inputs given: [Tensor],
             _ body: @escaping ([Tensor]) -> [Tensor]) -> [Tensor] {
        guard busy.tryLock() else { return body(given) }
        defer { busy.unlock() }
        var s = state.withLock { $0 }
        if s.key != key {
            s = State(key: key, refused: s.refused, counts: s.counts)
            state.withLock { $0 = s }   // the old graph goes now, before a new capture wants its memory
        }
        defer { state.withLock { $0 = s } }
        if let graph = s.graph {
            for (value, input) in zip(given, s.inputs) { backend.copy(value, into: input) }
            graph.replay()
            s.counts.replays += 1
            return graph.outputs
        }
        if s.eagerRuns == 0 || s.refused == key {
            s.eagerRuns += 1
            s.counts.eager += 1
            return body(given)
        }
        let inputs = given.map { value -> Tensor in
            let t = Tensor(storage: backend.allocate(byteCount: Swift.max(1, value.count) * value.dtype.byteSize),
                           dtype: value.dtype, shape: value.shape)
            backend.copy(value, into: t)
            return t
        }
        guard let graph = backend.capture({ body(inputs) }) else {
            s.refused = key
            s.counts.lastRefusal = backend.lastCaptureFailure
            s.counts.eager += 1
            return body(given)
        }
        s.graph = graph
        s.inputs = inputs
        s.rope = rope
        s.counts.captures += 1
        graph.replay()
        s.counts.replays += 1
        return graph.outputs
    }
}

/// How a DiT's blocks ran on a backend that captures graphs: captured, replayed or eagerly, and why
/// the last capture was refused ("" when none was).
public struct BlockGraphUse: Equatable, Sendable, CustomStringConvertible {
    public var captures = 0, replays = 0, eager = 0
    public var lastRefusal = ""

    public init(captures: Int = 0, replays: Int = 0, eager: Int = 0, lastRefusal: String = "") {
        self.captures = captures
        self.replays = replays
        self.eager = eager
        self.lastRefusal = lastRefusal
    }

    public var description: String {
        "\(captures) captured, \(replays) replayed, \(eager) eager" + (lastRefusal.isEmpty ? "" : "; capture refused: \(lastRefusal)")
    }
}

/// Hashes where every parameter lives (storage address, offset, shape, dtype): equal when the
/// same tensors are in the same places, which is what a captured graph reads.
struct ParameterFingerprint: ModuleVisitor {
    var path: [String] = []
    var hasher = Hasher()
    mutating func parameter(_ key: String, _ tensor: inout Tensor) throws {
        hasher.combine(UInt(bitPattern: tensor.storage.pointer))
        hasher.combine(tensor.offset)
        hasher.combine(tensor.shape)
        hasher.combine(tensor.dtype)
    }
}

extension FluxTransformer {
    /// How the blocks ran so far on a backend that captures graphs (`GraphCapturing`).
    public var blockGraphUse: BlockGraphUse { blockGraphs.counts }

    /// The fingerprint of the blocks' weights (`ParameterFingerprint`).
    func blockWeightsFingerprint() -> Int {
        var v = ParameterFingerprint()
        var d = doubleBlocks, s = singleBlocks
        try? d.visit(&v)
        try? s.visit(&v)
        return v.hasher.finalize()
    }

    /// The blocks from `first` on (image tokens `x`, text tokens `t`), through the graph cache when
    /// the backend captures graphs and the blocks are resident; returns the image tokens.
    func runBlocks(from first: Int, x: Tensor, t: Tensor, vec: Tensor, rope: FluxRoPE, layout: FluxRoPE.Layout,
                   mods: FluxStepModulation?) -> Tensor {
        let eager = { (inputs: [Tensor]) -> [Tensor] in
            [self.blocksEagerly(from: first, x: inputs[0], t: inputs[1], vec: inputs[2], rope: rope, mods: mods)]
        }
        // A generation's first call after `restartDelayedScales` runs eagerly: it calibrates the scales
        // the graph's calls then use.
        let calibrating = calibrationPending.withLock { p in defer { p = false }; return p }
        guard streamer == nil, mods == nil, let g = backend as? any GraphCapturing, g.graphsEnabled else {
            return eager([x, t, vec])[0]
        }
        if calibrating {
            blockGraphs.noteEagerRun()
            return eager([x, t, vec])[0]
        }
        let inputs = [x, t, vec]
        let key = FluxBlockGraphs.Key(shapes: inputs.map(\.shape), dtypes: inputs.map(\.dtype), layout: layout,
                                      first: first, weights: blockWeightsFingerprint(), epoch: g.graphEpoch)
        return blockGraphs.run(g, key: key, rope: rope, inputs: inputs, eager)[0]
    }

    /// The blocks from `first` on, op by op.
    private func blocksEagerly(from first: Int, x: Tensor, t: Tensor, vec: Tensor, rope: FluxRoPE,
                               mods: FluxStepModulation?) -> Tensor {
        let mods = mods ?? sharedFP8Modulation(vec)
        var x = x, t = t
        for i in first..<doubleBlocks.count {
            streamer?.acquire(i)
            (x, t) = doubleBlocks[i](img: x, txt: t, vec: vec, rope: rope, mods: mods?.double[i])
            streamer?.release(i)
        }
        var joint = concat([t, x], dim: 1)
        for (j, block) in singleBlocks.enumerated() {
            let i = doubleBlocks.count + j
            streamer?.acquire(i)
            joint = block(joint, vec: vec, rope: rope, mod: mods?.single[j])
            streamer?.release(i)
        }
        let lt = t.shape[1]
        return joint.slice(dim: 1, start: lt, end: lt + x.shape[1])
    }
}
