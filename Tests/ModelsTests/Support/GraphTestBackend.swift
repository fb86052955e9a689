import Foundation
import Tensor

/// `CapabilityTestBackend` that captures graphs with CUDA's effect on the caller: `capture` runs the
/// body once to get its outputs, and every `replay` runs the recorded body again and writes the new
/// values into those same outputs (in place, as a graph rewrites its memory). A caller that lets the
/// body read tensors other than the graph's inputs and the weights, forgets to copy new inputs in, or
/// keeps an output across replays gets wrong numbers. As on CUDA, a read back while capturing breaks
/// the capture (`lastCaptureFailure`), and `refuseCaptures` makes every capture fail.
// unchecked: the flags and counters are only touched under `graphLock`.
final class GraphTestBackend: CapabilityTestBackend, GraphCapturing, @unchecked Sendable {
    private let graphLock = NSLock()
    private var enabled = true, epoch = 0, refusing = false, capturing = false
    private var broken: String?, failure = ""
    private var replayCount = 0

    private func withGraphLock<T>(_ body: () -> T) -> T {
        graphLock.lock()
        defer { graphLock.unlock() }
        return body()
    }

    var graphsEnabled: Bool {
        get { withGraphLock { enabled } }
        set { withGraphLock { enabled = newValue } }
    }
    var graphEpoch: Int {
        get { withGraphLock { epoch } }
        set { withGraphLock { epoch = newValue } }
    }
    var refuseCaptures: Bool {
        get { withGraphLock { refusing } }
        set { withGraphLock { refusing = newValue } }
    }
    var lastCaptureFailure: String { withGraphLock { failure } }
    /// Replays run so far.
    var replays: Int { withGraphLock { replayCount } }

    override func download(_ storage: Storage, byteOffset: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        withGraphLock { if capturing, broken == nil { broken = "the captured work reads values back" } }
        super.download(storage, byteOffset: byteOffset, count: count, into: destination)
    }

    func copy(_ x: Tensor, into view: Tensor) {
        precondition(x.shape == view.shape && x.dtype == .f32 && view.dtype == .f32)
        Self.write(x.floats(), into: view)
    }

    func capture(_ body: @escaping () -> [Tensor]) -> (any CapturedGraph)? {
        if refuseCaptures { withGraphLock { failure = "refused by the test" }; return nil }
        withGraphLock { capturing = true; broken = nil }
        let outputs = body()
        let why: String? = withGraphLock { capturing = false; return broken }
        if let why { withGraphLock { failure = why }; return nil }
        withGraphLock { failure = "" }
        return Graph(backend: self, body: body, outputs: outputs)
    }

    /// Writes `values` (row-major) into the f32 tensor `view`, whatever its strides.
    static func write(_ values: [Float], into view: Tensor) {
        precondition(view.dtype == .f32 && values.count == view.count)
        let base = view.storage.pointer.assumingMemoryBound(to: Float.self) + view.offset
        var index = [Int](repeating: 0, count: view.rank)
        for v in values {
            var at = 0
            for d in 0..<view.rank { at += index[d] * view.strides[d] }
            base[at] = v
            var d = view.rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < view.shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }

    // unchecked: every field is a `let`.
    private final class Graph: CapturedGraph, @unchecked Sendable {
        let backend: GraphTestBackend
        let body: () -> [Tensor]
        let outputs: [Tensor]
        init(backend: GraphTestBackend, body: @escaping () -> [Tensor], outputs: [Tensor]) {
            self.backend = backend
            self.body = body
            self.outputs = outputs
        }
        func replay() {
            for (fresh, output) in zip(body(), outputs) { GraphTestBackend.write(fresh.floats(), into: output) }
            backend.withGraphLock { backend.replayCount += 1 }
        }
    }
}
