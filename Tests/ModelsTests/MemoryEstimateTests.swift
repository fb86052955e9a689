import XCTest
import Models
import Tensor

/// The memory estimate made before loading and the refusal built from it, with an injected
/// available-memory value (the real one comes from /proc/meminfo MemAvailable).
final class MemoryEstimateTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func files() throws -> FluxModelFiles { try FluxModelFiles.resolve(modelDir: Self.root + "/Models/default") }

    func testParsesMemAvailable() {
        let text = "MemTotal:       24567892 kB\nMemFree:         1234 kB\nMemAvailable:   20000000 kB\nBuffers: 1 kB\n"
        XCTAssertEqual(SystemMemory.parseMemAvailable(text), 20_000_000 * 1024)
        XCTAssertNil(SystemMemory.parseMemAvailable("MemTotal: 5 kB\n"))
        XCTAssertNotNil(SystemMemory.available())  // this machine is Linux
    }

    func testEstimateFollowsPrecisionAndSize() throws {
        let f = try files()
        let r = MemoryRequest(width: 128, height: 128, sequenceLength: 256)
        let bf16 = try f.estimateMemory(precision: .bf16, request: r)
        let fp8 = try f.estimateMemory(precision: .fp8, request: r)
        let int4 = try f.estimateMemory(precision: .int4, request: r)
        let f32 = try f.estimateMemory(precision: .f32, request: r)
        func stage(_ e: MemoryEstimate, _ n: String) -> MemoryEstimate.Stage { e.stages.first { $0.name == n }! }
        // The DiT's block Linears: bf16 2 bytes, fp8 1 byte + a scale per row, int4 half a byte + a scale per 64.
        XCTAssertLessThan(stage(fp8, "DiT").weightBytes, stage(bf16, "DiT").weightBytes)
        XCTAssertLessThan(stage(int4, "DiT").weightBytes, stage(fp8, "DiT").weightBytes)
        XCTAssertEqual(stage(f32, "T5").weightBytes, 2 * stage(bf16, "T5").weightBytes)  // bf16 checkpoint
        XCTAssertEqual(stage(fp8, "T5").weightBytes, stage(bf16, "T5").weightBytes)     // T5 is never quantized
        // Bigger pictures need more working memory; tiling caps the VAE's.
        let big = try f.estimateMemory(precision: .bf16, request: MemoryRequest(width: 2048, height: 2048, sequenceLength: 256, vaeTilingMode: .off))
        let tiled = try f.estimateMemory(precision: .bf16, request: MemoryRequest(width: 2048, height: 2048, sequenceLength: 256, vaeTilingMode: .auto))
        XCTAssertGreaterThan(stage(big, "DiT").workingBytes, stage(bf16, "DiT").workingBytes)
        XCTAssertGreaterThan(stage(big, "VAE").workingBytes, 3 * stage(tiled, "VAE").workingBytes)
        // Serving keeps every stage: all weights at once.
        let served = try f.estimateMemory(precision: .bf16, request: r, keepLoaded: true)
        XCTAssertEqual(served.peakBytes - bf16.peakBytes,
                       served.stages.map(\.weightBytes).reduce(0, +) + served.stages.map(\.workingBytes).max()! - bf16.stages.map(\.totalBytes).max()!)
    }

    func testRefusesWhenItCannotFitAndNamesWhatWould() throws {
        let f = try files()
        let r = MemoryRequest(width: 128, height: 128, sequenceLength: 256)
        let bf16 = try f.estimateMemory(precision: .bf16, request: r).peakBytes
        let fp8 = try f.estimateMemory(precision: .fp8, request: r).peakBytes
        XCTAssertLessThan(fp8, bf16)
        // Between the two: bf16 is refused, fp8 (and the smaller int8/int4) offered.
        let between = (bf16 + fp8) / 2
        let check = try XCTUnwrap(MemoryCheck.run(files: f, precision: .bf16, request: r, keepLoaded: false, available: between))
        XCTAssertFalse(check.fits)
        XCTAssertTrue(check.fittingPrecisions.contains(.fp8))
        XCTAssertFalse(check.fittingPrecisions.contains(.f32))
        let text = check.refusal
        for needle in ["not enough memory for --precision bf16", "MemAvailable", "--precision fp8", "--skip-memory-check", "DiT: weights"] {
            XCTAssertTrue(text.contains(needle), "refusal lacks '\(needle)': \(text)")
        }
        // Plenty: fits. Nothing: refused, and no precision is offered.
        XCTAssertTrue(try XCTUnwrap(MemoryCheck.run(files: f, precision: .bf16, request: r, keepLoaded: false, available: 64 << 30)).fits)
        let none = try XCTUnwrap(MemoryCheck.run(files: f, precision: .bf16, request: r, keepLoaded: false, available: 1 << 20))
        XCTAssertFalse(none.fits)
        XCTAssertTrue(none.refusal.contains("No --precision fits"), none.refusal)
    }
}
