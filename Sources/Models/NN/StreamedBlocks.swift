import Tensor

/// Streaming set-up for any model whose blocks are a list of modules (the Flux DiT, T5): blocks are
/// loaded one at a time, copied into the streamer's host memory and dropped before the next, so a
/// model larger than the device (or than host memory twice over) never sits whole anywhere.
/// Model-specific steps (the DiT keeping its modulation Linears apart) go in `prepare`.
extension BlockStreamer {
    /// Loads `blocks` (placeholders) from `key.0`, `key.1`, ... of `loader`, one at a time; each is
    /// passed to `prepare` and then adopted (host copies, numbered after the blocks adopted before).
    /// Returns the host blocks, in order.
    public func adoptLoading<B: Module>(_ blocks: [B], key: String, from loader: WeightLoader,
                                 prepare: (inout B) throws -> Void = { _ in }) throws -> [B] {
        var host: [B] = []
        host.reserveCapacity(blocks.count)
        for (i, placeholder) in blocks.enumerated() {
            var block = placeholder
            try loader.load(&block, at: [key, String(i)])
            try prepare(&block)
            host.append(try adopt(block))
        }
        return host
    }

    /// `hostBlocks` (from `adoptLoading`) as views of their device memory, block `i` being the
    /// streamer's block `first + i`. Needs `place` first.
    public func deviceBlocks<B: Module>(_ hostBlocks: [B], first: Int) throws -> [B] {
        try hostBlocks.enumerated().map { try deviceBlock($1, index: first + $0) }
    }
}

/// Weights a streaming model keeps in host memory apart from its blocks and uploads now and then
/// (the DiT's modulation Linears, once per generation): page-locked, and copied on the copy queue at
/// the link's full speed rather than through the backend's ordinary upload (which stages pageable
/// memory through one buffer and waits for the compute queue per chunk: about 0.5 s for FLUX.1-dev's
/// 3.2 GB of modulation weights against about 0.07 s this way at 50 GB/s).
extension BlockStreamer {
    /// `module`'s parameters copied into a new page-locked host region (not a streamed block).
    public func pinned<B: Module>(_ module: B) throws -> B {
        try hostCopy(module) { error, total in
            ModelError.invalidParameter("no page-locked host memory for \(Self.gib(total)) of weights kept on the host while streaming: \(error)")
        }.0
    }

    /// `module` with every parameter not on the device copied into new device memory on the copy
    /// queue; the compute queue waits for the copies (the host does not). The copies wait for the
    /// compute queue's work queued so far, which may still read memory the allocator hands out again.
    public func upload<B: Module>(_ module: B) throws -> B {
        let after = backend.makeFence(), done = backend.makeFence()
        backend.recordCompute(after)
        var queued = false
        let device = try module.mapParameters { _, t in
            if t.backend === backend { return t }
            // A contiguous copy made here would be freed before its upload ran: the ordinary path.
            guard t.isContiguous else { return t.moved(to: backend) }
            let c = t
            let storage = backend.allocate(byteCount: Swift.max(c.byteCount, 1))
            backend.uploadAsync(UnsafeRawPointer(c.storage.pointer) + c.offset * c.dtype.byteSize, count: c.byteCount,
                                to: storage, byteOffset: 0, after: after, done: done)
            queued = true
            // The host tensor outlives the copy: the caller keeps the host module.
            return Tensor(storage: storage, dtype: c.dtype, shape: c.shape)
        }
        if queued { backend.computeWait(done) }
        return device
    }
}
