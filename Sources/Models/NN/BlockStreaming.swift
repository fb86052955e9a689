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

    public init(weightBudget: Int, slots: Int = 2, keepsHostCopies: Bool = false) {
        self.weightBudget = weightBudget
        self.slots = slots
        self.keepsHostCopies = keepsHostCopies
    }
}

/// Where a streaming model's blocks are (`FluxTransformer.residency`, `T5Encoder.residency`).
public struct BlockResidency: Sendable, Equatable {
    /// Blocks kept on the device, the first ones in running order.
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

    /// One line: how many blocks are resident and streamed, and the bytes involved.
    public var summary: String {
        let g = BlockStreamer.gib
        return "\(residentBlocks) of \(residentBlocks + streamedBlocks) blocks resident, \(streamedBlocks) streamed through \(slots) slots of \(g(slotBytes)) (\(g(bytesPerPass)) copied per pass); \(g(deviceBytes + otherWeightBytes)) of weights on the device"
    }

    init(_ s: BlockStreamer, otherWeightBytes: Int) {
        let sizes = (0..<s.count).map { s.size(of: $0) }
        residentBlocks = s.residentCount
        streamedBlocks = s.count - s.residentCount
        slots = Swift.min(s.slotCount, streamedBlocks)
        slotBytes = s.slotBytes
        blockBytes = sizes
        deviceBytes = s.deviceBytes
        copies = s.streamedCopies
        self.otherWeightBytes = otherWeightBytes
        bytesPerPass = streamedBlocks > s.slotCount ? sizes[s.residentCount...].reduce(0, +) : 0
    }
}
