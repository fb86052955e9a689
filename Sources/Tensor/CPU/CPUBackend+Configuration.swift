extension CPUBackend {
    /// The tuning knobs of one CPU backend, fixed when the backend is made (`CPUBackend(configuration:)`).
    /// Kernels read them from the backend they run on; there are no process-wide knobs.
    public struct Configuration: Sendable, Equatable {
        /// Worker threads of the backend's own kernels. OpenBLAS threads its GEMMs itself
        /// (`OPENBLAS_NUM_THREADS`); benchmarks set both to the same number.
        public var threads: Int
        /// Most bytes of freed large buffers kept for reuse (0 turns reuse off; see `BufferCache`).
        public var bufferCacheLimitBytes: Int
        /// Bytes of im2col scratch one conv tile may use. A tile is a band of whole output rows; at
        /// 4 MB a 1024-wide 3x3 conv over 128 channels (1152 x 1024 floats per row) runs one row per
        /// tile. Tests lower it to exercise the tiling on small images.
        public var convTileBytes: Int
        /// Use Winograd F(2x2, 3x3) for eligible convs (3x3, stride 1, one group, at least 8 channels
        /// in and out); off for A/B measurements and tests.
        public var winograd: Bool
        /// Bytes of transformed input + products one Winograd band of tiles may use (per worker).
        public var winogradBandBytes: Int
        /// Bytes of attention score scratch for one block of queries (block rows x Lk floats per worker).
        public var attentionScratchBytes: Int
        /// Smallest attention query block (unless Lq is smaller).
        public var attentionMinBlockRows: Int

        /// The defaults (measured on the bench machine; see BENCHMARKS.md).
        public init(threads: Int = Parallel.processorCount, bufferCacheLimitBytes: Int = 512 << 20,
                    convTileBytes: Int = 4 << 20, winograd: Bool = true, winogradBandBytes: Int = 16 << 20,
                    attentionScratchBytes: Int = 8 << 20, attentionMinBlockRows: Int = 16) {
            self.threads = Swift.max(1, threads)
            self.bufferCacheLimitBytes = Swift.max(0, bufferCacheLimitBytes)
            self.convTileBytes = Swift.max(1, convTileBytes)
            self.winograd = winograd
            self.winogradBandBytes = Swift.max(1, winogradBandBytes)
            self.attentionScratchBytes = Swift.max(1, attentionScratchBytes)
            self.attentionMinBlockRows = Swift.max(1, attentionMinBlockRows)
        }
    }

    /// Sets the configuration `CPUBackend.shared` is made with. Call it at the start of an executable
    /// (benchmarks with `--threads`), before anything touches the shared backend; returns false and
    /// changes nothing when the shared backend already exists.
    @discardableResult
    public static func configureShared(_ configuration: Configuration) -> Bool {
        SharedConfiguration.slot.withLock {
            if $0.made { return false }
            $0.configuration = configuration
            return true
        }
    }
}

/// What `CPUBackend.shared` is made with: set at most until it is made, read once when it is.
enum SharedConfiguration {
    struct State { var configuration = CPUBackend.Configuration(); var made = false }
    static let slot = Locked(State())

    /// The configuration to make the shared backend with; later `configureShared` calls are refused.
    static func take() -> CPUBackend.Configuration {
        slot.withLock { $0.made = true; return $0.configuration }
    }
}
