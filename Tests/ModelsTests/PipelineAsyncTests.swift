import Foundation
import Models
import Tensor
import XCTest

/// The async entry points (issue 16): same picture as the blocking API, Task cancellation between
/// steps, the event stream, and one run at a time per pipeline.
final class PipelineAsyncTests: XCTestCase {
    static var files: FluxModelFiles {
        get throws { try FluxModelFiles.resolve(modelDir: Bundle.module.resourcePath! + "/Fixtures/tiny-flux") }
    }
    static func request(steps: Int = 2) -> GenerationRequest {
        var r = GenerationRequest(prompt: "a red circle on a blue background", seed: 3, steps: steps, width: 64, height: 48)
        r.maxSequenceLength = 64
        return r
    }

    /// The blocking picture, made where no async overload can be picked.
    static func blockingPicture(_ pipeline: FluxPipeline, _ request: GenerationRequest) throws -> GeneratedImage {
        try pipeline.generate(request)
    }

    func testAsyncGenerateGivesTheBlockingPictureAndReportsEveryStep() async throws {
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true)
        let plain = try Self.blockingPicture(pipeline, Self.request())
        let steps = SharedBox<[Int]>([])
        let image = try await pipeline.generate(Self.request()) { p in
            if p.stage == .denoising { steps.withValue { $0.append(p.step) } }
            return true
        }
        XCTAssertEqual(image.rgb, plain.rgb, "the async path changes nothing in the picture")
        XCTAssertEqual(steps.value, [0, 1, 2])
        let again = try await pipeline.generate(Self.request())
        XCTAssertEqual(again.rgb, plain.rgb)
    }

    func testCancellingTheTaskStopsARunningGenerationBetweenSteps() async throws {
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true)
        let (atStepTwo, reachedStepTwo) = AsyncStream<Void>.makeStream()
        let cancelled = DispatchSemaphore(value: 0)
        let lastStep = SharedBox(0)
        let shared = UncheckedTransfer(value: pipeline)  // this test touches it again only after the task ends
        let task = Task {
            try await shared.value.generate(PipelineAsyncTests.request(steps: 100)) { p in
                guard p.stage == .denoising else { return true }
                lastStep.withValue { $0 = p.step }
                if p.step == 2 { reachedStepTwo.yield(); cancelled.wait() }  // hold the run until the task is cancelled
                return true
            }
        }
        for await _ in atStepTwo { break }
        task.cancel()
        cancelled.signal()
        do {
            _ = try await task.value
            XCTFail("a cancelled generation finished")
        } catch {
            XCTAssertTrue(error is CancellationError, "Task cancellation throws CancellationError, got \(error)")
        }
        XCTAssertEqual(lastStep.value, 2, "stopped at the first step boundary after the cancel, not after 100 steps")
        // The pipeline is free and works again.
        let image = try await pipeline.generate(Self.request())
        XCTAssertEqual(image.rgb, try Self.blockingPicture(pipeline, Self.request()).rgb)
    }

    func testACancelledTaskDoesNotStartAndFalseFromProgressThrowsModelErrorCancelled() async throws {
        let pipeline = try FluxPipeline(files: Self.files)
        let calls = SharedBox(0)
        let shared = UncheckedTransfer(value: pipeline)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await shared.value.generate(PipelineAsyncTests.request()) { _ in calls.withValue { $0 += 1 }; return true }
        }
        do { _ = try await task.value; XCTFail("ran although cancelled") } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(calls.value, 0, "nothing ran")
        do {
            _ = try await pipeline.generate(Self.request()) { $0.stage != .denoising || $0.step < 1 }
            XCTFail("false from the callback did not stop the run")
        } catch ModelError.cancelled {
        } catch { XCTFail("expected ModelError.cancelled, got \(error)") }
    }

    func testEventStreamYieldsProgressThenTheSamePicture() async throws {
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true)
        let plain = try Self.blockingPicture(pipeline, Self.request())
        var stages: [String] = []
        var image: GeneratedImage?
        for try await event in pipeline.generationEvents(Self.request()) {
            switch event {
            case .progress(let p): XCTAssertNil(image, "no progress after the picture"); stages.append("\(p.stage.rawValue) \(p.step)")
            case .image(let i): image = i
            }
        }
        XCTAssertEqual(stages, ["encoding text 0", "denoising 0", "denoising 1", "denoising 2", "decoding 2"])
        XCTAssertEqual(image?.rgb, plain.rgb)
    }

    /// Leaving the loop stops the run: counted in backend calls, the stopped 100-step run costs a
    /// few steps, not 100 (256x256 steps, slow enough that the run cannot get far ahead of the loop).
    func testLeavingTheEventStreamStopsTheRun() async throws {
        let backend = ThreadCheckingBackend()
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true, backend: backend)
        func entries(_ request: GenerationRequest) async throws -> Int {
            let before = backend.entries
            _ = try await pipeline.generate(request)
            return backend.entries - before
        }
        _ = try await entries(Self.request())  // loads the stages
        var short = Self.request(steps: 2)
        (short.width, short.height) = (256, 256)
        let two = try await entries(short)
        short.steps = 3
        let three = try await entries(short)
        let perStep = three - two
        XCTAssertGreaterThan(perStep, 0)
        let before = backend.entries
        var long = Self.request(steps: 100)
        (long.width, long.height) = (256, 256)
        for try await event in pipeline.generationEvents(long) {
            if case .progress(let p) = event, p.stage == .denoising, p.step >= 2 { break }
        }
        short.steps = 2
        _ = try await pipeline.generate(short)  // waits for the stopped run to let go
        let stopped = backend.entries - before - two
        XCTAssertLessThan(stopped, two + 30 * perStep, "the run went on after the consumer left (a full run: \(two + 98 * perStep))")
        XCTAssertEqual(backend.violations, [])
    }

    /// Two tasks on one pipeline queue instead of racing on its stages: both get the right picture.
    func testConcurrentGenerationsOnOnePipelineTakeTurns() async throws {
        let pipeline = try FluxPipeline(files: Self.files, keepLoaded: true)
        let plain = try Self.blockingPicture(pipeline, Self.request())
        let other = { var r = Self.request(); r.seed = 4; return r }()
        let otherPlain = try Self.blockingPicture(pipeline, other)
        let handle = UncheckedPipeline(pipeline: pipeline)
        async let a = handle.pipeline.generate(Self.request())
        async let b = handle.pipeline.generate(other)
        let (imageA, imageB) = try await (a, b)
        XCTAssertEqual(imageA.rgb, plain.rgb)
        XCTAssertEqual(imageB.rgb, otherPlain.rgb)
    }
}

/// Shares a pipeline between two child tasks on purpose (what the gate makes safe).
// unchecked: both tasks only call `generate`, which holds FluxPipeline's `generationGate` (the thing under test).
private struct UncheckedPipeline: @unchecked Sendable { let pipeline: FluxPipeline }

/// A value shared with callbacks on the generation thread.
// unchecked: `stored` is only touched under `lock` (NSLock).
final class SharedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func withValue<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&stored) } }
}
