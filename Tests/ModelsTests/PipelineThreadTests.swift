import Foundation
import Models
import Tensor
import XCTest

/// The pipeline as the console drives it (issue 24): the backend made on one thread, the weights
/// loaded on the server's worker thread, generations from other threads and tasks, and a device
/// failure in the middle of a job ending that job with the device's message, not the process.
final class PipelineThreadTests: XCTestCase {
    static var files: FluxModelFiles {
        get throws { try FluxModelFiles.resolve(modelDir: Bundle.module.resourcePath! + "/Fixtures/tiny-flux") }
    }
    static var request: GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background", seed: 3, steps: 2, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }

    /// The blocking generate (in an async function a plain call picks the async overload).
    static func blocking(_ pipeline: FluxPipeline) throws -> GeneratedImage { try pipeline.generate(request) }

    /// Runs `body` on a new thread and waits (the console's worker is such a thread).
    func onNewThread<T>(_ body: @escaping () throws -> T) throws -> T {
        // unchecked: written by the new thread before it signals `done`, read only after `done.wait()` returns.
        nonisolated(unsafe) var result: Result<T, any Error>?
        let done = DispatchSemaphore(value: 0)
        let work = UncheckedTransfer(value: body)
        let t = Thread { result = Result { try work.value() }; done.signal() }
        t.stackSize = 16 << 20
        t.start()
        done.wait()
        return try result!.get()
    }

    func testLoadOnOneThreadGenerateOnOthersSamePicture() async throws {
        let plain = try Self.blocking(FluxPipeline(files: Self.files))
        let backend = ThreadCheckingBackend()
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true, backend: backend)
        try onNewThread { try pipeline.loadAll() }
        let onThread = try onNewThread { try pipeline.generate(Self.request) }
        let shared = UncheckedTransfer(value: pipeline)  // awaited before the next use
        let inTask = try await Task.detached { try PipelineThreadTests.blocking(shared.value) }.value
        XCTAssertEqual(backend.violations, [], "backend entered without its context current")
        XCTAssertEqual(onThread.rgb, plain.rgb)
        XCTAssertEqual(inTask.rgb, plain.rgb)
    }

    func testADeviceFaultFailsTheJobWithItsMessageAndTheNextJobWorks() throws {
        let backend = ThreadCheckingBackend()
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true, backend: backend)
        try pipeline.loadAll()
        let good = try pipeline.generate(Self.request)
        backend.injectFault(afterEntries: 200, message: "CUDA driver call cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (2)")
        XCTAssertThrowsError(try pipeline.generate(Self.request)) { error in
            XCTAssertTrue("\(error)".contains("CUDA_ERROR_OUT_OF_MEMORY"), "\(error)")
        }
        XCTAssertEqual(try pipeline.generate(Self.request).rgb, good.rgb, "the pipeline works again after a failed job")
        // A fault during loading fails the load.
        let fresh = try FluxPipeline(files: Self.files, keepLoaded: true, backend: backend)
        backend.injectFault(afterEntries: 5, message: "load fault")
        XCTAssertThrowsError(try fresh.loadAll()) { XCTAssertEqual("\($0)", "load fault") }
    }
}
