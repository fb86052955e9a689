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
