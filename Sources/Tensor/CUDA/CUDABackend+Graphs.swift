#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The capture in progress on a backend: the thread whose ops are recorded, the stream they are
/// recorded on, and the first rule the body broke.
struct GraphCaptureState {
    var thread: pthread_t?
    var stream: UnsafeMutableRawPointer?
    var broken: String?

    /// Whether the calling thread is the one capturing.
    var isCurrentThread: Bool { thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
}

/// CUDA graphs (`GraphCapturing`). A capture runs on its own stream, so other threads' work on the
/// backend is neither recorded nor held up; the graph is launched on the main stream, in order with
/// everything else. Tensors made while capturing come from a pool the graph owns
/// (`CUDAAllocator.GraphPool`): blocks cached by earlier eager runs are taken into it first, so a
/// graph costs about the memory of the eager step it replaces. Ops that would read values back, wait
/// or upload host memory mark the capture broken instead of running (`breaksCapture`).
extension CUDABackend: GraphCapturing {
    public var graphsEnabled: Bool {
        let c = configuration
        return c.cudaGraphs && !c.profiling && driver.graphs != nil
    }

    public var graphEpoch: Int { configuration.hashValue }

    /// Whether repeated work is captured into CUDA graphs (see `Configuration.cudaGraphs`).
    public var cudaGraphs: Bool {
        get { configuration.cudaGraphs }
        set { knobs.withLock { $0.cudaGraphs = newValue } }
    }

    public var lastCaptureFailure: String { status.withLock { $0.lastCaptureFailure } }

    /// The stream ops from the calling thread are queued on: the capture stream while this thread
    /// captures, else the main stream.
    var stream: UnsafeMutableRawPointer? {
        captureState.withLock { $0.isCurrentThread ? $0.stream : mainStream }
    }

    /// Whether the calling thread is capturing a graph.
    var isCapturingThread: Bool {
        captureState.withLock { $0.isCurrentThread }
    }

    /// On a capturing thread: notes that the body did `what` (the capture will be thrown away) and
    /// returns true, so the caller skips the call; elsewhere false.
    func breaksCapture(_ what: @autoclosure () -> String) -> Bool {
        captureState.withLock { s in
            guard s.isCurrentThread else { return false }
            if s.broken == nil { s.broken = "the captured work \(what())" }
            return true
        }
    }

    // `copy(_:into:)` is the elementwise copy (CUDABackend+Elementwise.swift).

    public func capture(_ body: @escaping () -> [Tensor]) -> (any CapturedGraph)? {
        func fail(_ why: String) -> (any CapturedGraph)? {
            status.withLock { $0.lastCaptureFailure = why }
            return nil
        }
        guard let g = driver.graphs else { return fail("the driver has no CUDA graph functions") }
        if fault.isSet { return fail("a device failure is pending") }
        return graphLock.withLock { () -> (any CapturedGraph)? in
            if captureStream == nil {
                // CU_STREAM_NON_BLOCKING (1); nothing runs on it: it only records.
                must(driver.cuStreamCreate(&captureStream, 1), "cuStreamCreate")
                if captureStream == nil { return fail("no stream to capture on") }
            }
            let pool = CUDAAllocator.GraphPool()
            captureState.withLock { $0 = GraphCaptureState(thread: pthread_self(), stream: captureStream, broken: nil) }
            allocator.beginCapture(pool)
            // CU_STREAM_CAPTURE_MODE_RELAXED (2): the allocator may still take new blocks meanwhile.
            let begin = g.cuStreamBeginCapture(captureStream, 2)
            let outputs = begin == 0 ? body() : []
            var graph: UnsafeMutableRawPointer?
            let end = begin == 0 ? g.cuStreamEndCapture(captureStream, &graph) : begin
            allocator.endCapture()
            let broken = captureState.withLock { s -> String? in
                defer { s = GraphCaptureState() }
                return s.broken
            }
            // A launch refused while recording is the capture's failure, not the job's: the caller
            // runs the same work eagerly next.
            let launchFailure = fault.take()
            var why: String?
            if begin != 0 { why = "cuStreamBeginCapture failed (CUresult \(begin))" }
            else if let broken { why = broken }
            else if pool.failed { why = "device memory ran out while capturing" }
            else if let launchFailure { why = "a call failed while capturing: \(launchFailure)" }
            else if end != 0 || graph == nil { why = "cuStreamEndCapture failed (CUresult \(end))" }
            var exec: UnsafeMutableRawPointer?
            if why == nil {
                let rc = g.cuGraphInstantiateWithFlags(&exec, graph, 0)
                if rc != 0 || exec == nil { why = "cuGraphInstantiateWithFlags failed (CUresult \(rc))" }
            }
            if let why {
                if graph != nil { _ = g.cuGraphDestroy(graph) }
                allocator.release(pool)
                return fail(why)
            }
            status.withLock { $0.lastCaptureFailure = "" }
            return CUDAGraph(backend: self, api: g, graph: graph, exec: exec, pool: pool, outputs: outputs)
        }
    }

    /// Queues a captured graph on the main stream.
    func launch(graph exec: UnsafeMutableRawPointer?, api: CUDADriver.GraphAPI) {
        if fault.isSet { return }
        if breaksCapture("replays a graph") { return }
        bound.bind()
        must(api.cuGraphLaunch(exec, mainStream), "cuGraphLaunch")
    }
}

/// A graph recorded by `CUDABackend.capture`: its executable form, and the pool its tensors live in
/// (given back to the allocator's cache when the graph goes).
// unchecked: every field is a `let`; the handles are only used through the backend's driver.
final class CUDAGraph: CapturedGraph, @unchecked Sendable {
    let outputs: [Tensor]
    private let backend: CUDABackend
    private let api: CUDADriver.GraphAPI
    private let graph: UnsafeMutableRawPointer?
    private let exec: UnsafeMutableRawPointer?
    private let pool: CUDAAllocator.GraphPool

    init(backend: CUDABackend, api: CUDADriver.GraphAPI, graph: UnsafeMutableRawPointer?, exec: UnsafeMutableRawPointer?,
         pool: CUDAAllocator.GraphPool, outputs: [Tensor]) {
        self.backend = backend
        self.api = api
        self.graph = graph
        self.exec = exec
        self.pool = pool
        self.outputs = outputs
    }

    func replay() { backend.launch(graph: exec, api: api) }

    deinit {
        backend.bound.bind()
        // A launch still running keeps its resources: the driver frees the executable graph after it.
        _ = api.cuGraphExecDestroy(exec)
        _ = api.cuGraphDestroy(graph)
        // Later work on these blocks is queued after the graph's last launch on the same stream.
        backend.allocator.release(pool)
    }
}
