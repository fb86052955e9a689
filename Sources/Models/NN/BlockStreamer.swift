import Tensor

/// Runs a model's blocks from a device too small to hold them all (`--vram-budget`).
///
/// Every block's weights are first copied into host memory (page-locked on a GPU), one region per
/// block (`adopt`). `place(budget:)` then chooses which blocks stay resident on the device
/// (`BlockStreaming.Layout`: by default spread through the running order, else the longest prefix)
/// and streams the rest through `slots` device buffers as large as the largest streamed block: the
/// `j`-th streamed block (in running order) always runs from slot `j % slots`. While one slot's block
/// computes, the next ones' weights are copied into the other slots on the backend's copy queue, so
/// copy and compute overlap. Fences order it: a slot is refilled only after the compute queue has
/// passed its last reader (`release`), and a block's kernels wait for its copy (`acquire`). After the
/// last block of a pass, the slots are refilled with the first streamed blocks of the next pass, and
/// `place` queues the first ones at once.
///
/// Why spread: the copy queue can only run ahead of the compute queue by `slots` blocks, so while a
/// long run of resident blocks computes it stands idle once the slots are full. With the streamed
/// blocks spread out, it copies during the resident blocks too (Tools/stream_plan_model.py models
/// both: FLUX.1-dev fp8 within 6 GiB, 1.24x the resident step with a prefix and 2 slots, 1.10x spread
/// with 3).
///
/// One forward pass at a time; `acquire`/`release` are called in running order.
public final class BlockStreamer {
    let backend: any AsyncUploading
    /// Device buffers the streamed blocks take turns in.
    let slotCount: Int
    /// Which blocks stay resident when the budget cannot hold them all.
    let layout: BlockStreaming.Layout
    /// Host copies of each adopted block, in running order (dropped for resident blocks once placed).
    private var regions: [Storage?] = []
    private var sizes: [Int] = []
    /// How many blocks live on the device for good (`isResident`); the rest stream.
    public private(set) var residentCount = 0
    private var placed = false
    private var slots: [Storage] = []
    /// Per block: its device buffer when resident, else nil.
    private var resident: [Storage?] = []
    /// The streamed blocks in running order, and per block its place in that list (nil: resident).
    public private(set) var streamedOrder: [Int] = []
    private var position: [Int?] = []
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
    public init(backend: any Backend, slots: Int = 2, keepsHostCopies: Bool = false, layout: BlockStreaming.Layout = .spread) throws {
        precondition(slots >= 1, "a streamer needs at least one slot")
        guard let uploader = backend as? any AsyncUploading else {
            throw ModelError.invalidParameter("block streaming needs a backend that copies while it computes; \(backend.name) does not")
        }
        self.backend = uploader
        slotCount = slots
        self.keepsHostCopies = keepsHostCopies
        self.layout = layout
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
        streamedOrder = []
        position = []
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
    var deviceBytes: Int { resident.reduce(0) { $0 + ($1?.byteCount ?? 0) } + slots.reduce(0) { $0 + $1.byteCount } }
    /// Bytes of block `i`'s weights.
    public func size(of i: Int) -> Int { sizes[i] }
    /// Whether block `i` stays on the device (after `place`).
    public func isResident(_ i: Int) -> Bool { placed && position.indices.contains(i) && position[i] == nil }

    /// Copies `block`'s parameters (from any backend) into a new host region; returns the block with
    /// parameters viewing that region. Blocks are numbered in adoption order, which must be the
    /// order they run in.
    public func adopt<B: Module>(_ block: B) throws -> B {
        precondition(!placed && resident.isEmpty && streamedCopies == 0, "adopt after place")
        let (host, region, total) = try hostCopy(block) { error, total in
            let held = sizes.reduce(0, +)
            return ModelError.invalidParameter("no page-locked host memory for block \(count) (\(Self.gib(total)); \(Self.gib(held)) already held for \(count) blocks): \(error). Streaming keeps the streamed model's blocks in host memory: free some, or use --precision fp8 to halve it")
        }
        regions.append(region)
        sizes.append(total)
        return host
    }

    /// `module` with its parameters (from any backend) copied into one new host region (page-locked
    /// on a GPU), the region and its size; `refusal` makes the error when no host memory is given.
    func hostCopy<B: Module>(_ module: B, refusal: (any Error, Int) -> any Error) throws -> (B, Storage, Int) {
        var total = 0
        for t in module.parameterTensors { total = Self.aligned(total) + t.byteCount }
        let region: Storage
        do { region = try backend.hostBuffer(byteCount: Swift.max(total, 1)) } catch { throw refusal(error, total) }
        var cursor = 0
        let host = try module.mapParameters { _, t in
            let c = t.isContiguous ? t : t.contiguous()
            cursor = Self.aligned(cursor)
            c.backend.download(c.storage, byteOffset: c.offset * c.dtype.byteSize, count: c.byteCount, into: region.pointer + cursor)
            let view = Tensor(storage: region, dtype: c.dtype, shape: c.shape, offset: cursor / c.dtype.byteSize)
            cursor += c.byteCount
            return view
        }
        return (host, region, total)
    }

    /// Device bytes needed when the first `resident` blocks stay on the device and the rest stream.
    func deviceBytesNeeded(resident r: Int) -> Int {
        let kept = sizes[..<r].reduce(0, +)
        let rest = sizes[r...]
        return kept + Swift.min(slotCount, rest.count) * (rest.max() ?? 0)
    }

    /// The smallest device budget that can run the blocks (everything streamed).
    public var minimumBudget: Int { deviceBytesNeeded(resident: 0) }

    /// Which blocks stay resident within `blockBudget` bytes (nil: not even streaming every block fits).
    func plan(blockBudget: Int) -> [Bool]? {
        if sizes.reduce(0, +) <= blockBudget { return sizes.map { _ in true } }
        switch layout {
        case .prefix:
            guard let r = (0...count).reversed().first(where: { deviceBytesNeeded(resident: $0) <= blockBudget }) else { return nil }
            return sizes.indices.map { $0 < r }
        case .spread:
            return Self.spreadPlan(sizes, room: blockBudget - slotCount * (sizes.max() ?? 0))
        }
    }

    /// Resident blocks spread evenly through the running order within `room` bytes (the budget less
    /// the slots, which are as large as the largest block, so any block may stream): each size of
    /// block gets its share of the room in proportion to its bytes, its resident ones evenly spaced
    /// among its kind (Flux: double and single blocks alike); what is left goes to the largest blocks
    /// that fit. nil when `room` is negative.
    static func spreadPlan(_ sizes: [Int], room: Int) -> [Bool]? {
        guard room >= 0 else { return nil }
        var resident = sizes.map { _ in false }
        let total = sizes.reduce(0, +)
        guard total > 0 else { return resident }
        var left = room
        for size in Set(sizes).sorted(by: >) where size > 0 {
            let group = sizes.indices.filter { sizes[$0] == size }
            let share = Double(room) * Double(group.count * size) / Double(total)
            let take = Swift.min(group.count, Int(share / Double(size)))
            for (j, i) in group.enumerated() where (j + 1) * take / group.count > j * take / group.count {
                resident[i] = true
                left -= size
            }
        }
        for i in sizes.indices.sorted(by: { sizes[$0] > sizes[$1] }) where !resident[i] && sizes[i] <= left {
            resident[i] = true
            left -= sizes[i]
        }
        return resident
    }

    /// Chooses which blocks stay resident within `budget` device bytes, of which `otherBytes` are
    /// already spent on the model's other weights (`layout`); allocates the resident blocks and the
    /// slots, copies the resident blocks up (their host copies are then freed unless kept) and queues
    /// the copies of the first streamed blocks. Throws, naming the size needed, when even streaming
    /// every block does not fit.
    public func place(budget: Int, otherBytes: Int = 0, what: String) throws {
        precondition(!placed, "place called twice without evict")
        guard count > 0 else { placed = true; return }
        let blockBudget = budget - otherBytes
        guard let keep = plan(blockBudget: blockBudget) else {
            let inFlight = Swift.min(slotCount, count)
            throw ModelError.invalidParameter("the \(what) needs at least \(Self.gib(otherBytes + minimumBudget)) of device memory for its weights when streaming (\(Self.gib(otherBytes)) outside its blocks, \(inFlight) blocks of \(Self.gib(sizes.max() ?? 0)) in flight); the budget leaves it \(Self.gib(Swift.max(0, budget))). Raise --vram-budget.")
        }
        let streamed = sizes.indices.filter { !keep[$0] }
        // All device memory first (a failure leaves nothing half placed), then the copies.
        let kept = try sizes.indices.map { i -> Storage? in
            guard keep[i] else { return nil }
            return try backend.allocatePersistent(byteCount: Swift.max(sizes[i], 1))
        }
        let slotSize = streamed.map { sizes[$0] }.max() ?? 0
        let newSlots = try (0..<Swift.min(slotCount, streamed.count)).map { _ in try backend.allocatePersistent(byteCount: Swift.max(slotSize, 1)) }
        residentCount = count - streamed.count
        resident = kept
        streamedOrder = streamed
        position = sizes.map { _ in nil }
        for (j, i) in streamed.enumerated() { position[i] = j }
        slots = newSlots
        slotHolds = newSlots.map { _ in -1 }
        loaded = newSlots.map { _ in backend.makeFence() }
        freed = newSlots.map { _ in nil }
        let done = backend.makeFence()
        for i in sizes.indices where keep[i] {
            backend.uploadAsync(regions[i]!.pointer, count: sizes[i], to: kept[i]!, byteOffset: 0, after: nil, done: done)
        }
        // The host copies of resident blocks may go once their uploads are done.
        backend.hostWait(done)
        backend.computeWait(done)
        if !keepsHostCopies { for i in sizes.indices where keep[i] { regions[i] = nil } }
        placed = true
        // The first pass's first streamed blocks are copied now, while the caller prepares its pass.
        for (s, i) in streamed.prefix(newSlots.count).enumerated() { queueCopy(i, slot: s) }
    }

    /// `hostBlock` (as returned by `adopt` for block `index`) with its parameters pointing at the
    /// block's device memory: its resident buffer, or its slot.
    public func deviceBlock<B: Module>(_ hostBlock: B, index: Int) throws -> B {
        precondition(placed, "deviceBlock before place")
        let target = position[index].map { slots[$0 % slots.count] } ?? resident[index]!
        return try hostBlock.mapParameters { _, t in
            Tensor(storage: target, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset)
        }
    }

    /// Call before queuing block `index`'s kernels: makes the compute queue wait until its weights
    /// are in its slot (queuing the copy now if it was not prefetched). No-op for resident blocks.
    public func acquire(_ index: Int) {
        guard let p = position[index] else { return }
        let s = p % slots.count
        if slotHolds[s] != index { queueCopy(index, slot: s) }
        backend.computeWait(loaded[s])
    }

    /// Call after queuing block `index`'s kernels: marks its slot free once they have run and queues
    /// the copy of the next block that uses the slot (wrapping to the next pass's first ones).
    public func release(_ index: Int) {
        guard let p = position[index] else { return }
        let s = p % slots.count
        let fence = freed[s] ?? backend.makeFence()
        backend.recordCompute(fence)
        freed[s] = fence
        let next = streamedOrder[p + slots.count < streamedOrder.count ? p + slots.count : s]
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
