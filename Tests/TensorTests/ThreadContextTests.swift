import Foundation
import Tensor
import XCTest

/// A device backend must work from any thread (issue 24: `serve --device cuda` died because the CUDA
/// context was current only on the thread that made the backend). These drive a backend that checks
/// its simulated context at every entry, from many threads, the way `CUDABackend` reaches its driver.
final class ThreadContextTests: XCTestCase {
    /// Runs `body(i)` on `n` new threads at once and waits for all.
    func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for i in 0..<n {
            group.enter()
            let t = Thread { body(i); group.leave() }
            t.stackSize = 8 << 20
            t.start()
        }
        group.wait()
    }

    /// A small chain of ops; the result depends on `i`.
    static func work(_ b: any Backend, _ i: Int) -> [Float] {
        let x = Tensor((0..<64).map { Float($0 + i) / 64 }, shape: [8, 8]).moved(to: b)
        let w = Tensor((0..<64).map { Float(($0 * 7) % 13) / 13 }, shape: [8, 8]).moved(to: b)
        let y = softmax(matmul(x, w.transposed(0, 1)) + x, dim: -1)
        return layerNorm(y, weight: nil, bias: nil, eps: 1e-5).floats()
    }

    func testEveryEntryFromManyThreadsHasTheContextCurrent() {
        let backend = ThreadCheckingBackend()
        let results = Locked([Int: [Float]]())
        onThreads(16) { i in
            for _ in 0..<5 { results.withLock { $0[i] = Self.work(backend, i) } }
        }
        XCTAssertEqual(backend.violations, [], "entries without the context current")
        XCTAssertGreaterThan(backend.entries, 16 * 5 * 6)
        // Same numbers as the CPU backend on one thread.
        for i in 0..<16 { XCTAssertEqual(results.withLock { $0[i] }, Self.work(CPUBackend.shared, i), "thread \(i)") }
    }

    func testTheCheckCatchesABackendBoundOnlyWhereItWasMade() {
        // The old CUDA behaviour: current on the making thread only. Work there passes, elsewhere fails.
        let backend = ThreadCheckingBackend(bindsOnEntry: false)
        _ = Self.work(backend, 0)
        XCTAssertEqual(backend.violations, [])
        onThreads(2) { i in _ = Self.work(backend, i) }
        XCTAssertFalse(backend.violations.isEmpty, "entries from other threads must be reported")
    }

    func testFromSwiftConcurrencyTasks() async {
        let backend = ThreadCheckingBackend()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 { group.addTask { for _ in 0..<3 { _ = Self.work(backend, i); await Task.yield() } } }
        }
        XCTAssertEqual(backend.violations, [])
    }

    func testFaultIsKeptUntilTakenThenCleared() {
        let backend = ThreadCheckingBackend()
        XCTAssertNoThrow(try backend.throwIfFaulted())
        backend.injectFault(afterEntries: 3, message: "first")
        _ = Self.work(backend, 0)
        XCTAssertThrowsError(try backend.throwIfFaulted()) { XCTAssertEqual("\($0)", "first") }
        XCTAssertNoThrow(try backend.throwIfFaulted(), "a taken fault is gone")
        XCTAssertEqual(Self.work(backend, 1), Self.work(CPUBackend.shared, 1))
    }

    func testFaultLatchKeepsTheFirstError() {
        struct E: Error, Equatable { let n: Int }
        let latch = FaultLatch()
        XCTAssertFalse(latch.isSet)
        latch.record(E(n: 1))
        latch.record(E(n: 2))
        XCTAssertTrue(latch.isSet)
        XCTAssertEqual(latch.take() as? E, E(n: 1))
        XCTAssertNil(latch.take())
    }

    func testCUDAErrorsNameTheResult() {
        // 201 is an invalid context, not "out of memory" (the message the old allocator printed).
        XCTAssertTrue("\(CUDAError.driver("cuMemAlloc", 201))".contains("CUDA_ERROR_INVALID_CONTEXT"))
        XCTAssertTrue("\(CUDAError.driver("cuMemAlloc", 2))".contains("CUDA_ERROR_OUT_OF_MEMORY"))
        XCTAssertTrue("\(CUDAError.driver("x", 12345))".contains("12345"))
        XCTAssertTrue("\(CUDAError.cublas("cublasLtMatmul", 15))".contains("CUBLAS_STATUS_NOT_SUPPORTED"))
    }
}

/// A value behind a lock, for collecting results from threads.
// unchecked: `value` is only reached through `withLock`, under `lock` (NSLock).
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func withLock<R>(_ body: (inout T) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}
