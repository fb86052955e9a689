import Tensor

/// Low-VRAM mode for a model with blocks (the DiT, T5): its weights kept within a device budget by
/// streaming the blocks that do not fit (`BlockStreamer`).
public struct BlockStreaming: Sendable, Equatable {
    /// Device bytes for all of the model's weights: the layers outside the blocks, the resident blocks
    /// and the slots streamed blocks run from (activations are not counted here).
    public var weightBudget: Int
    /// Device buffers streamed blocks take turns in (2: one computes while the next is copied).
    public var slots: Int

    /// Keep the host copies of resident blocks too, so the model can give its device memory back and
    /// take it again without rereading the checkpoint (host memory for the whole model).
    public var keepsHostCopies: Bool

    /// Which blocks stay resident when not all fit (`BlockStreamer`).
    public var layout: Layout

    /// Which blocks a streamer keeps on the device.
    public enum Layout: Sendable, Equatable {
        /// Spread evenly through the running order, so the copy queue works during the resident
        /// blocks too (the default); slots as large as the largest block.
        case spread
        /// The longest prefix in running order; slots as large as the largest streamed block.
        case prefix
    }

    public init(weightBudget: Int, slots: Int = 2, keepsHostCopies: Bool = false, layout: Layout = .spread) {
        self.weightBudget = weightBudget
        self.slots = slots
        self.keepsHostCopies = keepsHostCopies
        self.layout = layout
    }
}

/// Where a streaming model's blocks are (`FluxTransformer.residency`, `T5Encoder.residency`).
public struct BlockResidency: Sendable, Equatable {
    /// Blocks kept on the device (`BlockStreaming.Layout` says which).
    public var residentBlocks: Int
    /// Blocks copied in as they run.
    public var streamedBlocks: Int
    /// Device buffers the streamed blocks take turns in.
    public var slots: Int
    /// Bytes of one slot (the largest streamed block).
    public var slotBytes: Int
    /// Weight bytes of each block in running order.
    public var blockBytes: [Int]
    /// Device bytes held by block weights: resident blocks plus slots.
    public var deviceBytes: Int
    /// Copies into slots queued since loading.
    public var copies: Int
    /// Bytes of the weights outside the blocks (always resident), as counted against the budget.
    public var otherWeightBytes: Int
    /// Bytes copied per forward pass (0 when nothing is streamed).
    public var bytesPerPass: Int
    /// The streamed blocks' indices in running order.
    public var streamed: [Int]

    /// The blocks in running order, `R` resident and `s` streamed ("RRsRs...").
    public var map: String { String(blockBytes.indices.map { streamed.contains($0) ? "s" : "R" }) }

    /// One line: how many blocks are resident and streamed, and the bytes involved.
    public var summary: String {
        let g = BlockStreamer.gib
        return "\(residentBlocks) of \(residentBlocks + streamedBlocks) blocks resident, \(streamedBlocks) streamed through \(slots) slots of \(g(slotBytes)) (\(g(bytesPerPass)) copied per pass); \(g(deviceBytes + otherWeightBytes)) of weights on the device"
            + (streamedBlocks > 0 ? "; blocks \(map)" : "")
    }

    init(_ s: BlockStreamer, otherWeightBytes: Int) {
        let sizes = (0..<s.count).map { s.size(of: $0) }
        residentBlocks = s.residentCount
        streamedBlocks = s.streamedOrder.count
        slots = Swift.min(s.slotCount, streamedBlocks)
        slotBytes = s.slotBytes
        blockBytes = sizes
        deviceBytes = s.deviceBytes
        copies = s.streamedCopies
        self.otherWeightBytes = otherWeightBytes
        streamed = s.streamedOrder
        bytesPerPass = streamedBlocks > s.slotCount ? s.streamedOrder.reduce(0) { $0 + sizes[$1] } : 0
    }
}
