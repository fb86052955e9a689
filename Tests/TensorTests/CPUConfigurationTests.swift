import XCTest
import Tensor

/// CPU backends carry their own tuning knobs (no process-wide statics): configurations are clamped,
/// kernels read them from the backend they run on, profiles are per backend, and the shared backend's
/// configuration is fixed once it exists.
final class CPUConfigurationTests: XCTestCase {
    func testConfigurationIsClampedAndKeptByTheBackend() {
        let c = CPUBackend.Configuration(threads: 0, bufferCacheLimitBytes: -5, convTileBytes: 0, winograd: false,
                                         winogradBandBytes: -1, attentionScratchBytes: 0, attentionMinBlockRows: -3)
        XCTAssertEqual(c.threads, 1)
        XCTAssertEqual(c.bufferCacheLimitBytes, 0)
        XCTAssertEqual([c.convTileBytes, c.winogradBandBytes, c.attentionScratchBytes, c.attentionMinBlockRows], [1, 1, 1, 1])
        XCTAssertFalse(c.winograd)
        let b = CPUBackend(configuration: CPUBackend.Configuration(threads: 3))
        XCTAssertEqual(b.configuration.threads, 3)
        XCTAssertEqual(b.parallel.threadCount, 3)
        XCTAssertEqual(CPUBackend.Configuration().threads, Parallel.processorCount)
    }

    /// Once the shared backend exists its configuration cannot change any more.
    func testSharedConfigurationIsFixedOnceMade() {
        let before = CPUBackend.shared.configuration
        XCTAssertFalse(CPUBackend.configureShared(CPUBackend.Configuration(threads: before.threads + 5)))
        XCTAssertEqual(CPUBackend.shared.configuration, before)
    }

    /// One thread or many, elementwise results are the same bits; and `forEach` covers every index once.
    func testThreadCountDoesNotChangeResults() {
        let values = (0..<300_000).map { Float($0 % 977) * 0.013 - 3 }
        var outputs: [[Float]] = []
        for threads in [1, 4] {
            let b = CPUBackend(configuration: CPUBackend.Configuration(threads: threads))
            let x = Tensor(values, shape: [values.count], backend: b)
            outputs.append(((x * 1.5).exp() + x).floats())
        }
        XCTAssertEqual(outputs[0], outputs[1])
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 1000)
        Parallel(threadCount: 4).forEach(1000, grain: 7) { r in for i in r { hits[i] += 1 } }
        XCTAssertEqual((0..<1000).filter { hits[$0] != 1 }, [])
    }

    /// Profiles count the ops of their own backend only.
    func testProfileIsPerBackend() {
        let a = CPUBackend(), b = CPUBackend()
        a.profile.reset()
        XCTAssertTrue(a.profile.isEnabled)
        XCTAssertFalse(b.profile.isEnabled)
        let x = Tensor([1, 2, 3, 4], shape: [4], backend: a)
        _ = (x + x).floats()
        _ = (Tensor([1, 2], shape: [2], backend: b) * 2).floats()
        a.profile.stop()
        let report = a.profile.report()
        XCTAssertTrue(report.contains("binary"), report)
        XCTAssertFalse(b.profile.report().contains("binary"), "b was not profiled")
    }
}
