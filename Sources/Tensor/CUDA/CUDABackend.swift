#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The CUDA backend: device memory through a caching allocator, one stream, kernels compiled at run
/// time by NVRTC, GEMMs through cuBLASLt. Every CUDA library is found with `dlopen`, so the package
/// builds without the CUDA SDK and `CUDABackend.make()` simply throws where there is no GPU.
///
/// Floating results are produced in `computeDType` (bf16 by default, f32 for exact checks); statistics
/// (norms, softmax) and GEMM accumulation are f32. Work is queued on one stream and only `download`
/// (reading values back to the host) waits for it.
///
/// Threads: any thread may call in. Every driver call goes through `driver`, which makes the
/// backend's context current on the calling thread first (CUDA binds contexts per thread); shared
/// host-side state (kernel handles, GEMM plans, staging buffers, the allocator) is locked.
/// Failures: ops cannot throw, so a failed driver call or allocation is kept in `fault` (the first
/// one, with its CUresult name), later work is skipped, and `takeFault()` / `throwIfFaulted()` hand
/// it to the caller, which fails that job; the backend is usable again after.
// unchecked: init-time handles never change; mutable state is under `lock` (staging, ring, copy stream), `stateLock` (kernels, plans, unit scale), `profileLock`, `gemmLock`, `knobs`/`status` (Locked) or the allocator's lock.
public final class CUDABackend: Backend, FileUploading, @unchecked Sendable {
    public let device: Device
    public var name: String { "cuda:\(ordinal)" }
    /// The GPU's name as the driver reports it (e.g. "NVIDIA H200").
    public let deviceName: String
    /// The dtype of floating results.
    public let computeDType: DType
    /// Compute capability, e.g. (9, 0).
    public let capability: (Int, Int)
    public let multiprocessors: Int
    let ordinal: Int
    /// The driver API bound to this backend's context: see `driver`.
    let bound: ContextBoundAPI<CUDADriver>
    /// The driver, with the backend's context made current on the calling thread.
    var driver: CUDADriver { bound.api }
    /// The first failure inside an op, until taken (see the type's notes).
    let fault: FaultLatch
    let lt: CUBLASLt
    /// The stream every op is queued on (`stream` is this one except on a thread that is capturing
    /// a graph: CUDABackend+Graphs.swift).
    var mainStream: UnsafeMutableRawPointer?
    /// The graph capture in progress, if any (CUDABackend+Graphs.swift).
    let captureState = Locked(GraphCaptureState())
    /// The stream captures are recorded on (made on first use, under `graphLock`).
    var captureStream: UnsafeMutableRawPointer?
    /// One capture at a time.
    let graphLock = CUDALock()
    /// The second stream `uploadAsync` copies on (created on first use).
    var copyStream: UnsafeMutableRawPointer?
    var module: UnsafeMutableRawPointer?
    var functions: [String: UnsafeMutableRawPointer?] = [:]
    let allocator: CUDAAllocator
    var staging: UnsafeMutableRawPointer?
    let stagingBytes = 64 << 20
    /// The pinned slots and events of file uploads (CUDABackend+Upload.swift), made on first use.
    var uploadSlots: UploadSlots?
    var unitScaleTensor: Tensor?
    /// The tuning knobs (see `Configuration`).
    let knobs: Locked<Configuration>
    /// What the last ops ran (see `RunStatus`).
    let status = Locked(RunStatus())
    var ring: UnsafeMutableRawPointer?
    let ringBytes = 16 << 20
    var ringCursor = 0
    var plans: [LtGemm: LtPlan] = [:]
    var workspace: UInt64 = 0
    let workspaceBytes = 64 << 20
    let lock = CUDALock()
    /// Guards `functions`, `plans` and `unitScaleTensor`.
    let stateLock = CUDALock()
    /// Held from setting a cuBLASLt plan's per-call attributes (bias, scales) to queueing its GEMM.
    let gemmLock = CUDALock()
    /// Guards `profileTimes` and `profileEvents` (taken inside `gemmLock`, never around `stateLock` users).
    let profileLock = CUDALock()
    var profileTimes: [String: (count: Int, ms: Double)] = [:]
    var profileEvents: (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) = (nil, nil)
    /// Whether the module holds the Hopper flash kernels (compute capability 9.0 and NVRTC sm_90a).
    public var hopperFlashAvailable: Bool { hasFunction("flash_wg_d128") }

    /// Why CUDA cannot be used here, or nil when a device was found (cheap; does not compile kernels).
    public static func unavailableReason() -> String? {
        guard let lib = CUDALibrary(CUDALibraryNames.driver) else { return "libcuda.so.1 (the NVIDIA driver) was not found" }
        guard let d = try? CUDADriver(lib) else { return "libcuda.so.1 lacks driver API symbols" }
        if d.cuInit(0) != 0 { return "cuInit failed (no usable NVIDIA GPU)" }
        var n: Int32 = 0
        if d.cuDeviceGetCount(&n) != 0 || n == 0 { return "no CUDA device found" }
        if CUDALibrary(CUDALibraryNames.nvrtc) == nil { return "libnvrtc (CUDA's run-time compiler) was not found" }
        if CUDALibrary(CUDALibraryNames.cublasLt) == nil { return "libcublasLt was not found" }
        return nil
    }

    // unchecked: only read and written in `make`, under `cacheLock`.
    nonisolated(unsafe) private static var cache: [String: CUDABackend] = [:]
    private static let cacheLock = CUDALock()

    /// The backend for device `ordinal` computing in `computeDType` (bf16 or f32), made once per process
    /// (a device's context, stream and memory pool are shared by everything that computes on it).
    /// `configuration` sets its knobs (`Configuration.fromEnvironment` when nil at creation); given
    /// for a backend that already exists, it replaces that backend's knobs.
    public static func make(ordinal: Int = 0, computeDType: DType = .bf16,
                            configuration: Configuration? = nil) throws -> CUDABackend {
        precondition([.bf16, .f16, .f32].contains(computeDType), "CUDA compute dtype must be bf16, f16 or f32")
        return try cacheLock.withLock {
            let key = "\(ordinal)-\(computeDType)"
            if let b = cache[key] {
                if let configuration { b.configuration = configuration }
                return b
            }
            let b = try CUDABackend(ordinal: ordinal, computeDType: computeDType,
                                    configuration: configuration ?? .fromEnvironment)
            cache[key] = b
            return b
        }
    }

    private init(ordinal: Int, computeDType: DType, configuration: Configuration) throws {
        knobs = Locked(configuration)
        if let why = CUDABackend.unavailableReason() { throw CUDAError.unavailable(why) }
        guard let lib = CUDALibrary(CUDALibraryNames.driver) else { throw CUDAError.unavailable("libcuda.so.1 not found") }
        let d = try CUDADriver(lib)
        self.ordinal = ordinal
        self.computeDType = computeDType
        device = .cuda(ordinal)
        try CUDADriver.check(d.cuInit(0), "cuInit")
        var dev: Int32 = 0
        try CUDADriver.check(d.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet(\(ordinal))")
        var ctx: UnsafeMutableRawPointer?
        try CUDADriver.check(d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        try CUDADriver.check(d.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        let fault = FaultLatch()
        self.fault = fault
        bound = ContextBoundAPI(d, context: ctx, onFailure: { fault.record(CUDAError.driver("cuCtxSetCurrent (making the context current on this thread)", $0)) })
        var nameBuf = [CChar](repeating: 0, count: 256)
        _ = d.cuDeviceGetName(&nameBuf, 255, dev)
        deviceName = nameBuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var major: Int32 = 0, minor: Int32 = 0, sms: Int32 = 0
        _ = d.cuDeviceGetAttribute(&major, 75, dev)
        _ = d.cuDeviceGetAttribute(&minor, 76, dev)
        _ = d.cuDeviceGetAttribute(&sms, 16, dev)
        capability = (Int(major), Int(minor))
        multiprocessors = Int(sms)
        try CUDADriver.check(d.cuStreamCreate(&mainStream, 0), "cuStreamCreate")
        allocator = CUDAAllocator(driver: bound, fault: fault)
        try CUDADriver.check(d.cuMemAllocHost(&staging, stagingBytes), "cuMemAllocHost")
        try CUDADriver.check(d.cuMemAllocHost(&ring, ringBytes), "cuMemAllocHost")
        guard let ltLib = CUDALibrary(CUDALibraryNames.cublasLt) else { throw CUDAError.unavailable("libcublasLt not found") }
        lt = try CUBLASLt(ltLib)
        try CUDADriver.check(d.cuMemAlloc(&workspace, workspaceBytes), "cuMemAlloc(workspace)")
        module = try CUDABackend.loadKernelModule(d, arch: "\(major)\(minor)", cacheFolder: configuration.kernelCacheFolder)
    }

    // MARK: memory

    public func allocate(byteCount: Int) -> Storage {
        guard let p = allocator.allocate(byteCount) else {
            // The fault is recorded (while capturing a graph: the capture is marked failed and thrown
            // away) and every later op is skipped until it is taken, so nothing reads or writes this
            // stand-in address (the cuBLASLt workspace, a valid device address).
            return Storage(pointer: UnsafeMutableRawPointer(bitPattern: UInt(workspace))!, byteCount: byteCount, backend: self,
                           release: { _ in })
        }
        return Storage(pointer: UnsafeMutableRawPointer(bitPattern: UInt(p))!, byteCount: byteCount, backend: self,
                       release: { [allocator] ptr in allocator.free(UInt64(UInt(bitPattern: ptr)), byteCount) })
    }

    public func takeFault() -> (any Error)? { fault.take() }

    /// Records a failed driver call as the backend's fault (the ops that call it cannot throw).
    @inline(__always) func must(_ result: Int32, _ call: @autoclosure () -> String) {
        if result != 0 { fault.record(CUDAError.driver(call(), result)) }
    }

    /// A new contiguous tensor of `shape` (uninitialised).
    public func empty(_ shape: [Int], _ dtype: DType) -> Tensor {
        Tensor(storage: allocate(byteCount: Swift.max(1, shape.reduce(1, *)) * dtype.byteSize), dtype: dtype, shape: shape)
    }

    /// Peak bytes held from the driver by the allocator (cached blocks included) since `resetPeak()`.
    public var peakReservedBytes: Int { allocator.withCounters { $0.peakReserved } }
    /// Bytes the caching allocator holds from the driver (live tensors and cached blocks).
    public var reservedBytes: Int { allocator.withCounters { $0.reserved } }
    /// Bytes currently handed out to live tensors.
    public var bytesInUse: Int { allocator.withCounters { $0.inUse } }
    /// Peak bytes handed out to live tensors since `resetPeak()`.
    public var peakInUseBytes: Int { allocator.withCounters { $0.peakInUse } }
    public func resetPeak() { allocator.resetPeak() }
    /// Peak device memory in use by the driver's counters (cuMemGetInfo: total - free, sampled after
    /// every new block and at `resetPeak()`), since `resetPeak()`. Includes the CUDA context, kernel
    /// modules, cuBLASLt workspace and cached blocks; counts other processes on the GPU too.
    public var peakDeviceUsedBytes: Int { allocator.withCounters { $0.peakDeviceUsed } }
    /// The driver-counted peak since the last call (or since the backend was made), then starts a
    /// new window at the current use: per-stage peaks that leave `peakDeviceUsedBytes` alone.
    public func takeWindowPeakDeviceUsed() -> Int { allocator.takeWindowPeak() }
    /// Caps the bytes the caching allocator holds from the driver: past it, cached blocks go back
    /// before new ones are taken (a low-VRAM budget); nil for no cap.
    public var allocatorLimit: Int? {
        get { allocator.limit }
        set { allocator.limit = newValue }
    }
    /// Returns every cached block to the driver.
    public func emptyCache() {
        if breaksCapture("empties the memory cache") { return }
        synchronize(); allocator.releaseCached()
    }

    public func download(_ storage: Storage, byteOffset: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        if count == 0 { return }
        // After a fault the values are meaningless; zeros, and the caller's next check throws.
        if fault.isSet || breaksCapture("reads values back") {
            destination.initializeMemory(as: UInt8.self, repeating: 0, count: count); return
        }
        let src = UInt64(UInt(bitPattern: storage.pointer)) + UInt64(byteOffset)
        lock.withLock {
            var done = 0
            while done < count {
                let n = Swift.min(stagingBytes, count - done)
                must(driver.cuMemcpyDtoHAsync(staging, src + UInt64(done), n, stream), "cuMemcpyDtoHAsync")
                must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
                (destination + done).copyMemory(from: staging!, byteCount: n)
                done += n
            }
        }
    }

    /// Waits until all queued work has finished.
    public func synchronize() {
        if breaksCapture("waits for the device") { return }
        must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
    }

    /// Milliseconds of GPU time `body` queues, measured with events on the stream.
    public func time(_ body: () -> Void) -> Double {
        if breaksCapture("times work") { body(); return 0 }
        var e0: UnsafeMutableRawPointer?, e1: UnsafeMutableRawPointer?
        must(driver.cuEventCreate(&e0, 0), "cuEventCreate")
        must(driver.cuEventCreate(&e1, 0), "cuEventCreate")
        must(driver.cuEventRecord(e0, stream), "cuEventRecord")
        body()
        must(driver.cuEventRecord(e1, stream), "cuEventRecord")
        must(driver.cuEventSynchronize(e1), "cuEventSynchronize")
        var ms: Float = 0
        must(driver.cuEventElapsedTime(&ms, e0, e1), "cuEventElapsedTime")
        return Double(ms)
    }

    /// Free and total device memory in bytes.
    public func memoryInfo() -> (free: Int, total: Int) {
        var f = 0, t = 0
        _ = driver.cuMemGetInfo(&f, &t)
        return (f, t)
    }

    // MARK: launching

    func function(_ name: String) -> UnsafeMutableRawPointer? {
        stateLock.withLock {
            if let f = functions[name] { return f }
            var f: UnsafeMutableRawPointer?
            must(driver.cuModuleGetFunction(&f, module, name), "cuModuleGetFunction(\(name))")
            if f != nil { functions[name] = f }
            return f
        }
    }

    /// Whether kernel `name` is in the module (kernels guarded by an architecture feature may be absent).
    func hasFunction(_ name: String) -> Bool {
        stateLock.withLock {
            if functions[name] != nil { return true }
            var f: UnsafeMutableRawPointer?
            guard driver.cuModuleGetFunction(&f, module, name) == 0, f != nil else { return false }
            functions[name] = f
            return true
        }
    }

    /// Times `body` into the profile under `name` when profiling.
    func profiled(_ name: @autoclosure () -> String, _ body: () -> Void) {
        if !profiling || isCapturingThread { body(); return }
        profileLock.withLock {
            if profileEvents.0 == nil {
                must(driver.cuEventCreate(&profileEvents.0, 0), "cuEventCreate")
                must(driver.cuEventCreate(&profileEvents.1, 0), "cuEventCreate")
            }
            must(driver.cuEventRecord(profileEvents.0, stream), "cuEventRecord")
            body()
            must(driver.cuEventRecord(profileEvents.1, stream), "cuEventRecord")
            must(driver.cuEventSynchronize(profileEvents.1), "cuEventSynchronize")
            var ms: Float = 0
            must(driver.cuEventElapsedTime(&ms, profileEvents.0, profileEvents.1), "cuEventElapsedTime")
            let key = name()
            let old = profileTimes[key] ?? (0, 0)
            profileTimes[key] = (old.count + 1, old.ms + Double(ms))
        }
    }

    /// Kernel and GEMM times gathered while `profiling`, largest first; clears them.
    public func profileReport(top: Int = 25) -> String {
        let times = profileLock.withLock { defer { profileTimes = [:] }; return profileTimes }
        let total = times.values.reduce(0) { $0 + $1.ms }
        var lines = ["profile: \(times.count) kinds, \(Int(total * 1000) / 1000) ms in all"]
        for (k, v) in times.sorted(by: { $0.value.ms > $1.value.ms }).prefix(top) {
            lines.append("  \(Int(v.ms * 1000) / 1000) ms  x\(v.count)  \(k)")
        }
        return lines.joined(separator: "\n")
    }

    /// Launches kernel `name` on the stream (timed when profiling).
    func launch(_ name: String, grid: (Int, Int, Int), block: Int, shared: Int = 0, _ args: KernelArgs) {
        if fault.isSet { return }
        if profiling {
            profiled(name) { launchNow(name, grid: grid, block: block, shared: shared, args) }
        } else {
            launchNow(name, grid: grid, block: block, shared: shared, args)
        }
    }

    private func launchNow(_ name: String, grid: (Int, Int, Int), block: Int, shared: Int, _ args: KernelArgs) {
        guard let f = function(name) else { return }
        if shared > 48 * 1024 {
            must(driver.cuFuncSetAttribute(f, 8, Int32(shared)), "cuFuncSetAttribute(\(name))")
        }
        var a = args
        a.words.withUnsafeMutableBytes { buf in
            var ptrs: [UnsafeMutableRawPointer?] = a.starts.map { buf.baseAddress! + $0 * 8 }
            must(driver.cuLaunchKernel(f, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block), 1, 1,
                                           UInt32(shared), stream, &ptrs, nil), "cuLaunchKernel(\(name))")
        }
    }

    /// A 1-D grid for a grid-stride loop over `n` items.
    func gridFor(_ n: Int, block: Int = 256) -> (Int, Int, Int) {
        (Swift.max(1, Swift.min((n + block - 1) / block, multiprocessors * 32)), 1, 1)
    }

    /// Kernel dtype code (see `CUDAKernelSource.common`).
    static func code(_ d: DType) -> Int {
        switch d {
        case .f32: return 0
        case .f16: return 1
        case .bf16: return 2
        case .f8e4m3fn: return 3
        case .f8e5m2: return 4
        case .i8: return 5
        case .u8: return 6
        case .i32: return 7
        case .i64: return 8
        case .bool: return 9
        }
    }
}

/// Kernel parameters packed as 8-byte slots (each parameter starts on an 8-byte boundary).
struct KernelArgs {
    var words: [UInt64] = []
    var starts: [Int] = []

    /// The device address of `t`'s first element.
    mutating func ptr(_ t: Tensor) { add(UInt64(UInt(bitPattern: t.storage.pointer)) + UInt64(t.offset * t.dtype.byteSize)) }
    mutating func ptr(_ t: Tensor?) { if let t { ptr(t) } else { add(UInt64(0)) } }
    mutating func address(_ a: UInt64) { add(a) }
    mutating func i64(_ v: Int) { add(UInt64(bitPattern: Int64(v))) }
    mutating func i32(_ v: Int) { add(UInt64(UInt32(bitPattern: Int32(v)))) }
    mutating func f32(_ v: Float) { add(UInt64(v.bitPattern)) }
    mutating func dtype(_ d: DType) { i32(CUDABackend.code(d)) }
    /// A struct of 64-bit fields passed by value.
    mutating func raw(_ fields: [Int64]) {
        starts.append(words.count)
        words.append(contentsOf: fields.map { UInt64(bitPattern: $0) })
    }
    private mutating func add(_ w: UInt64) {
        starts.append(words.count)
        words.append(w)
    }
}

/// The backend's locks.
typealias CUDALock = PThreadMutex

/// A caching device allocator: freed blocks are kept per rounded size and reused, so steady-state
/// inference makes no driver allocations. All work runs on one stream, so a block freed on the host
/// may be reused at once: later kernels are queued after the ones still reading it.
// unchecked: `cached`, the counters and `limitBytes` are only touched under `lock` (readers go through `withCounters`/`limit`); the rest is `let`.
final class CUDAAllocator: @unchecked Sendable {
    private let bound: ContextBoundAPI<CUDADriver>
    /// The driver with the backend's context current on the calling thread.
    private var driver: CUDADriver { bound.api }
    /// Where an allocation that failed even after the cache was returned is reported.
    private let fault: FaultLatch
    private var cached: [Int: [UInt64]] = [:]
    private let lock = CUDALock()
    /// The capture in progress (its thread and pool) and which blocks belong to graph pools.
    private var capture: (thread: pthread_t, pool: GraphPool)?
    private var owners: [UInt64: GraphPool] = [:]
    private(set) var reserved = 0, peakReserved = 0, inUse = 0, peakInUse = 0
    /// Device memory in use by the driver's count (total - free) after the largest allocation since
    /// `resetPeak()`: our blocks plus the context, modules and library workspaces.
    private(set) var peakDeviceUsed = 0
    /// The same peak over a window that `takeWindowPeak()` restarts.
    private var windowPeakDeviceUsed = 0
    /// When set, cached blocks are returned to the driver before an allocation would take `reserved`
    /// past it, so a memory budget is not spent on cache.
    var limit: Int? {
        get { lock.withLock { limitBytes } }
        set { lock.withLock { limitBytes = newValue } }
    }
    private var limitBytes: Int?

    /// Reads the counters under the lock (one consistent snapshot).
    func withCounters<T>(_ body: (CUDAAllocator) -> T) -> T { lock.withLock { body(self) } }

    init(driver: ContextBoundAPI<CUDADriver>, fault: FaultLatch) {
        bound = driver
        self.fault = fault
    }

    /// Sizes round up to 512 bytes below 1 MiB, else to 1/8 of the next power of two.
    static func rounded(_ n: Int) -> Int {
        let n = Swift.max(n, 1)
        if n <= 1 << 20 { return (n + 511) / 512 * 512 }
        var p = 1 << 20
        while p < n { p <<= 1 }
        let g = p / 8
        return (n + g - 1) / g * g
    }

    /// A block of at least `bytes` (cached or new); nil when the driver refuses even after every
    /// cached block was returned, with the reason recorded in `fault`.
    func allocate(_ bytes: Int) -> UInt64? {
        let size = Self.rounded(bytes)
        return lock.withLock {
            if let c = capture, pthread_equal(c.thread, pthread_self()) != 0 { return allocateForCaptureLocked(size, c.pool) }
            if var list = cached[size], let p = list.popLast() {
                cached[size] = list
                inUse += size
                peakInUse = Swift.max(peakInUse, inUse)
                return p
            }
            var p: UInt64 = 0
            if let limit = limitBytes, reserved + size > limit, !cached.isEmpty { releaseCachedLocked() }
            if driver.cuMemAlloc(&p, size) != 0 {
                // Out of memory (or another failure): return the cache and try once more.
                releaseCachedLocked()
                let rc = driver.cuMemAlloc(&p, size)
                if rc != 0 {
                    fault.record(CUDAError.driver("cuMemAlloc of \(size) bytes (\(reserved) bytes held by the allocator, \(inUse) in use)", rc))
                    return nil
                }
            }
            inUse += size
            peakInUse = Swift.max(peakInUse, inUse)
            reserved += size
            peakReserved = Swift.max(peakReserved, reserved)
            sampleDeviceUsed()
            return p
        }
    }

    /// Exactly `bytes` from the driver, outside the cache (long-lived buffers); nil when the device
    /// is full even after the cache is returned.
    func allocateExact(_ bytes: Int) -> UInt64? {
        lock.withLock {
            if let limit = limitBytes, reserved + bytes > limit, !cached.isEmpty { releaseCachedLocked() }
            var p: UInt64 = 0
            if driver.cuMemAlloc(&p, bytes) != 0 {
                releaseCachedLocked()
                if driver.cuMemAlloc(&p, bytes) != 0 { return nil }
            }
            reserved += bytes
            inUse += bytes
            peakReserved = Swift.max(peakReserved, reserved)
            peakInUse = Swift.max(peakInUse, inUse)
            sampleDeviceUsed()
            return p
        }
    }

    /// Returns a block from `allocateExact` to the driver (after the work queued on it).
    func freeExact(_ p: UInt64, _ bytes: Int) {
        lock.withLock {
            inUse -= bytes
            reserved -= bytes
        }
        _ = driver.cuCtxSynchronize()
        _ = driver.cuMemFree(p)
    }

    func free(_ p: UInt64, _ bytes: Int) {
        let size = Self.rounded(bytes)
        lock.withLock {
            inUse -= size
            if let pool = owners[p] {
                if !pool.released { pool.free[size, default: []].append(p); return }
                owners[p] = nil
            }
            cached[size, default: []].append(p)
        }
    }

    // MARK: graph pools

    /// The blocks a captured graph's work uses: kept for the graph (its replays write them) until
    /// `release`, reused among the graph's own tensors while capturing (the graph replays in the
    /// order it was recorded, so that reuse is as safe as the eager one).
    // unchecked: only touched under the allocator's lock.
    final class GraphPool: @unchecked Sendable {
        var free: [Int: [UInt64]] = [:]
        var released = false
        /// Set when a block could not be had while capturing.
        var failed = false
    }

    /// From now until `endCapture`, blocks asked for on the calling thread come from `pool` (its own
    /// free blocks, then cached ones, which it takes over, then new ones).
    func beginCapture(_ pool: GraphPool) { lock.withLock { capture = (pthread_self(), pool) } }

    func endCapture() { lock.withLock { capture = nil } }

    /// Gives a pool's free blocks back to the cache; its blocks still in use follow when freed.
    func release(_ pool: GraphPool) {
        lock.withLock {
            pool.released = true
            for (size, list) in pool.free {
                for p in list { owners[p] = nil; cached[size, default: []].append(p) }
            }
            pool.free = [:]
        }
    }

    /// A block for the capturing thread's pool (under `lock`); nil with `pool.failed` set when the
    /// driver has none (no cache release here: that would wait for the device mid-capture).
    private func allocateForCaptureLocked(_ size: Int, _ pool: GraphPool) -> UInt64? {
        var p: UInt64 = 0
        if var list = pool.free[size], let q = list.popLast() {
            pool.free[size] = list
            p = q
        } else if var list = cached[size], let q = list.popLast() {
            cached[size] = list
            p = q
        } else {
            if driver.cuMemAlloc(&p, size) != 0 { pool.failed = true; return nil }
            reserved += size
            peakReserved = Swift.max(peakReserved, reserved)
            sampleDeviceUsed()
        }
        owners[p] = pool
        inUse += size
        peakInUse = Swift.max(peakInUse, inUse)
        return p
    }

    func releaseCached() { lock.withLock { releaseCachedLocked() } }

    private func releaseCachedLocked() {
        _ = driver.cuCtxSynchronize()
        for (size, list) in cached {
            for p in list { _ = driver.cuMemFree(p); reserved -= size }
        }
        cached = [:]
    }

    func resetPeak() { lock.withLock { peakReserved = reserved; peakInUse = inUse; peakDeviceUsed = 0; sampleDeviceUsed() } }

    /// Reads the driver's free/total counters into `peakDeviceUsed` (called after each new block,
    /// the only time our use grows).
    func sampleDeviceUsed() {
        var free = 0, total = 0
        if driver.cuMemGetInfo(&free, &total) == 0 {
            peakDeviceUsed = Swift.max(peakDeviceUsed, total - free)
            windowPeakDeviceUsed = Swift.max(windowPeakDeviceUsed, total - free)
        }
    }

    func takeWindowPeak() -> Int {
        lock.withLock {
            sampleDeviceUsed()
            let peak = windowPeakDeviceUsed
            windowPeakDeviceUsed = 0
            sampleDeviceUsed()
            return peak
        }
    }
}
