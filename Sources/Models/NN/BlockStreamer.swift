import Tensor

/// Runs a model's blocks from a device too small to hold them all (`--vram-budget`).
///
/// Every block's weights are first copied into host memory (page-locked on a GPU), one region per
/// block (`adopt`). `place(budget:)` then keeps the longest prefix of blocks, in the order they run,
/// resident on the device and streams the rest through `slots` device buffers: block `i` of the
/// streamed ones always runs from slot `i % slots`. While one slot's block computes, the next
/// block's weights are copied into another slot on the backend's copy queue, so copy and compute
/// overlap. Fences order it: a slot is refilled only after the compute queue has passed its last
/// reader (`release`), and a block's kernels wait for its copy (`acquire`). After the last block
/// of a pass, the slots are refilled with the first streamed blocks of the next pass.
///
/// One forward pass at a time; `acquire`/`release` are called in running order.
public final class BlockStreamer {
    let backend: any AsyncUploading
    /// Device buffers the streamed blocks take turns in.
    let slotCount: Int
    /// Host copies of each adopted block, in running order (dropped for resident blocks once placed).
    private var regions: [Storage?] = []
    private var sizes: [Int] = []
    /// Blocks `0..<residentCount` live on the device for good; the rest stream.
    public private(set) var residentCount = 0
    private var placed = false
    private var slots: [Storage] = []
    private var resident: [Storage] = []
    /// Per slot: the block whose copy was last queued into it, and the fences of that copy and of
    /// the compute queue after the slot's last reader.
    private var slotHolds: [Int] = []
    private var loaded: [QueueFence] = []
    private var freed: [QueueFence?] = []
    /// Copies queued to slots since creation.
    public private(set) var streamedCopies = 0

    /// Tensor offsets inside a region are aligned to this many bytes.
    static let alignment = 256

    /// Whether host copies of resident blocks are kept after `place`, so the device memory can be
    /// given back (`evict`) and taken again (`place`) without reading the checkpoint.
    let keepsHostCopies: Bool

    /// Throws when `backend` cannot copy while it computes (is not `AsyncUploading`).
    public init(backend: any Backend, slots: Int = 2, keepsHostCopies: Bool = false) throws {
        precondition(slots >= 1, "a streamer needs at least one slot")
        guard let uploader = backend as? any AsyncUploading else {
            throw ModelError.invalidParameter("block streaming needs a backend that copies while it computes; \(backend.name) does not")
        }
        self.backend = uploader
        slotCount = slots
        self.keepsHostCopies = keepsHostCopies
    }

    /// Whether the blocks have device memory now (between `place` and `evict`).
    public var isPlaced: Bool { placed }

    /// Gives the device memory back (resident blocks and slots) once queued copies are done; the
    /// host copies stay, and `place` may be called again, with another budget. Tensors viewing the
    /// old device memory must be dropped by the caller. Needs `keepsHostCopies`.
    public func evict() {
        precondition(keepsHostCopies, "evict needs the host copies of resident blocks")
        guard placed else { return }
        for fence in loaded { backend.hostWait(fence) }
        resident = []
        slots = []
        slotHolds = []
        loaded = []
        freed = []
        residentCount = 0
        placed = false
    }

    /// Copies still queued (the prefetch for a next pass that will not come) must finish before the
    /// slots go back to the allocator and the host regions are freed.
    deinit {
        for fence in loaded { backend.hostWait(fence) }
    }

    /// Number of adopted blocks.
    public var count: Int { sizes.count }
    /// Device bytes of one slot (the largest streamed block); 0 before `place` or when all are resident.
    var slotBytes: Int { slots.first?.byteCount ?? 0 }
    /// Device bytes held: resident blocks plus slots.
    var deviceBytes: Int { resident.reduce(0) { $0 + $1.byteCount } + slots.reduce(0) { $0 + $1.byteCount } }
    /// Bytes of block `i`'s weights.
    public func size(of i: Int) -> Int { sizes[i] }

    /// Copies `block`'s parameters (from any backend) into a new host region; returns the block with
    /// parameters viewing that region. Blocks are numbered in adoption order, which must be the
    /// order they run in.
    public func adopt<B: Module>(_ block: B) throws -> B {
        precondition(!placed && resident.isEmpty && streamedCopies == 0, "adopt after place")
        var total = 0
        for t in block.parameterTensors { total = Self.aligned(total) + t.byteCount }
        let region: Storage
        do { region = try backend.hostBuffer(byteCount: Swift.max(total, 1)) } catch {
            let held = sizes.reduce(0, +)
            throw ModelError.invalidParameter("no page-locked host memory for block \(count) (\(Self.gib(total)); \(Self.gib(held)) already held for \(count) blocks): \(error). Streaming keeps the streamed model's blocks in host memory: free some, or use --precision fp8 to halve it")
        }
        var cursor = 0
        let host = try block.mapParameters { _, t in
            let c = t.isContiguous ? t : t.contiguous()
            cursor = Self.aligned(cursor)
            c.backend.download(c.storage, byteOffset: c.offset * c.dtype.byteSize, count: c.byteCount, into: region.pointer + cursor)
            let view = Tensor(storage: region, dtype: c.dtype, shape: c.shape, offset: cursor / c.dtype.byteSize)
            cursor += c.byteCount
            return view
        }
        regions.append(region)
        sizes.append(total)
        return host
    }

    /// Device bytes needed when the first `resident` blocks stay on the device and the rest stream.
    func deviceBytesNeeded(resident r: Int) -> Int {
        let kept = sizes[..<r].reduce(0, +)
        let rest = sizes[r...]
        return kept + Swift.min(slotCount, rest.count) * (rest.max() ?? 0)
    }

    /// The smallest device budget that can run the blocks (everything streamed).
    public var minimumBudget: Int { deviceBytesNeeded(resident: 0) }

    /// Chooses how many blocks stay resident within `budget` device bytes, of which `otherBytes` are
    /// already spent on the model's other weights; allocates the resident blocks and the slots, and
    /// copies the resident blocks up (their host copies are then freed). Throws, naming the size
    /// needed, when even streaming every block does not fit.
    public func place(budget: Int, otherBytes: Int = 0, what: String) throws {
        precondition(!placed, "place called twice without evict")
        guard count > 0 else { placed = true; return }
        let blockBudget = budget - otherBytes
        guard let r = (0...count).reversed().first(where: { deviceBytesNeeded(resident: $0) <= blockBudget }) else {
            let inFlight = Swift.min(slotCount, count)
            throw ModelError.invalidParameter("the \(what) needs at least \(Self.gib(otherBytes + minimumBudget)) of device memory for its weights when streaming (\(Self.gib(otherBytes)) outside its blocks, \(inFlight) blocks of \(Self.gib(sizes.max() ?? 0)) in flight); the budget leaves it \(Self.gib(Swift.max(0, budget))). Raise --vram-budget.")
        }
        // All device memory first (a failure leaves nothing half placed), then the copies.
        let kept = try (0..<r).map { try backend.allocatePersistent(byteCount: Swift.max(sizes[$0], 1)) }
        let slotSize = sizes[r...].max() ?? 0
        let newSlots = try (0..<Swift.min(slotCount, count - r)).map { _ in try backend.allocatePersistent(byteCount: Swift.max(slotSize, 1)) }
        residentCount = r
        resident = kept
        slots = newSlots
        slotHolds = newSlots.map { _ in -1 }
        loaded = newSlots.map { _ in backend.makeFence() }
        freed = newSlots.map { _ in nil }
        let done = backend.makeFence()
        for i in 0..<r {
            backend.uploadAsync(regions[i]!.pointer, count: sizes[i], to: kept[i], byteOffset: 0, after: nil, done: done)
        }
        // The host copies of resident blocks may go once their uploads are done.
        backend.hostWait(done)
        backend.computeWait(done)
        if !keepsHostCopies { for i in 0..<r { regions[i] = nil } }
        placed = true
    }

    /// `hostBlock` (as returned by `adopt` for block `index`) with its parameters pointing at the
    /// block's device memory: its resident buffer, or its slot.
    public func deviceBlock<B: Module>(_ hostBlock: B, index: Int) throws -> B {
        precondition(placed, "deviceBlock before place")
        let target = index < residentCount ? resident[index] : slots[(index - residentCount) % slots.count]
        return try hostBlock.mapParameters { _, t in
            Tensor(storage: target, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset)
        }
    }

    /// Call before queuing block `index`'s kernels: makes the compute queue wait until its weights
    /// are in its slot (queuing the copy now if it was not prefetched). No-op for resident blocks.
    public func acquire(_ index: Int) {
        guard index >= residentCount else { return }
        let s = (index - residentCount) % slots.count
        if slotHolds[s] != index { queueCopy(index, slot: s) }
        backend.computeWait(loaded[s])
    }

    /// Call after queuing block `index`'s kernels: marks its slot free once they have run and queues
    /// the copy of the next block that uses the slot (wrapping to the next pass's first ones).
    public func release(_ index: Int) {
        guard index >= residentCount else { return }
        let s = (index - residentCount) % slots.count
        let fence = freed[s] ?? backend.makeFence()
        backend.recordCompute(fence)
        freed[s] = fence
        let next = index + slots.count < count ? index + slots.count : residentCount + s
        if slotHolds[s] != next { queueCopy(next, slot: s) }
    }

    private func queueCopy(_ index: Int, slot s: Int) {
        backend.uploadAsync(regions[index]!.pointer, count: sizes[index], to: slots[s], byteOffset: 0,
                            after: freed[s], done: loaded[s])
        slotHolds[s] = index
        streamedCopies += 1
    }

    static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func gib(_ bytes: Int) -> String {
        let g = Double(bytes) / Double(1 << 30)
        return g >= 10 ? "\(Int(g.rounded())) GiB" : "\(Double(Int(g * 100)) / 100) GiB"
    }
}
