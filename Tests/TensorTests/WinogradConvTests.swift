import XCTest
import Tensor

/// Winograd F(2x2, 3x3) (the CPU backend's path for 3x3 stride-1 convs with >= 8 channels) against
/// the im2col + GEMM path (itself checked against PyTorch in ConvTests) on random inputs.
/// Tolerance: |wino - direct| <= 2e-5 max|direct| (sums of 9 * Cin <= 1152 products).
final class WinogradConvTests: XCTestCase {
    private func compare(n: Int, cin: Int, cout: Int, h: Int, w: Int, padding: (Int, Int, Int, Int), bias: Bool,
                         bandBytes: Int? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let g = TorchGenerator(seed: UInt64(cin * 1000 + h * 10 + w))
        let x = g.randn([n, cin, h, w])
        let wt = g.randn([cout, cin, 3, 3]) * 0.1
        let b: Tensor? = bias ? g.randn([cout]) : nil
        let pad = (top: padding.0, bottom: padding.1, left: padding.2, right: padding.3)
        var on = CPUBackend.Configuration(winograd: true)
        if let bandBytes { on.winogradBandBytes = bandBytes }
        let wino = Self.conv(x, wt, b, pad, on).floats()
        let direct = Self.conv(x, wt, b, pad, CPUBackend.Configuration(winograd: false))
        XCTAssertEqual(direct.shape, [n, cout, h + padding.0 + padding.1 - 2, w + padding.2 + padding.3 - 2], file: file, line: line)
        let ref = direct.floats()
        let scale = ref.map(abs).max() ?? 1
        let err = zip(wino, ref).map { abs($0 - $1) }.max() ?? 0
        XCTAssertEqual(wino.count, ref.count, file: file, line: line)
        XCTAssertLessThanOrEqual(err, 2e-5 * scale, "max abs diff \(err), max |ref| \(scale)", file: file, line: line)
    }

    /// conv2d on a CPU backend with `configuration` (inputs copied to it).
    static func conv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ pad: (top: Int, bottom: Int, left: Int, right: Int),
                     _ configuration: CPUBackend.Configuration) -> Tensor {
        let backend = CPUBackend(configuration: configuration)
        return conv2d(x.moved(to: backend), weight: w.moved(to: backend), bias: b?.moved(to: backend),
                      stride: (1, 1), padding: pad)
    }

    func testSamePaddingEvenAndOddSizes() {
        compare(n: 1, cin: 16, cout: 24, h: 12, w: 10, padding: (1, 1, 1, 1), bias: true)
        compare(n: 2, cin: 8, cout: 8, h: 7, w: 9, padding: (1, 1, 1, 1), bias: true)   // odd: partial edge tiles
    }

    func testNoPaddingAsymmetricPaddingAndNoBias() {
        compare(n: 1, cin: 12, cout: 8, h: 6, w: 5, padding: (0, 0, 0, 0), bias: false)
        compare(n: 1, cin: 8, cout: 16, h: 9, w: 8, padding: (0, 1, 2, 0), bias: true)
    }

    func testWideRowsTakeTheEightTileVectorPath() {
        // 8 tiles at a time where a tile row is wide enough (18+ interior input columns), scalar edges.
        compare(n: 1, cin: 8, cout: 8, h: 10, w: 64, padding: (1, 1, 1, 1), bias: true)
        compare(n: 1, cin: 8, cout: 8, h: 9, w: 45, padding: (0, 0, 2, 1), bias: true)   // odd width, asymmetric
        compare(n: 1, cin: 8, cout: 8, h: 8, w: 37, padding: (0, 0, 0, 0), bias: false)
    }

    func testManyBandsPerWorkerAndWideChannels() {
        // One tile row per band: many jobs run on the per-worker path with single-threaded GEMMs.
        compare(n: 2, cin: 32, cout: 32, h: 20, w: 18, padding: (1, 1, 1, 1), bias: true, bandBytes: 1)
        compare(n: 1, cin: 128, cout: 64, h: 16, w: 16, padding: (1, 1, 1, 1), bias: true)
    }

    /// The switch is read from the backend the conv runs on: the two paths round differently.
    func testBackendConfigurationChoosesThePath() {
        let g = TorchGenerator(seed: 11)
        let x = g.randn([1, 16, 12, 12]), wt = g.randn([16, 16, 3, 3]) * 0.1
        let pad = (top: 1, bottom: 1, left: 1, right: 1)
        let wino = Self.conv(x, wt, nil, pad, CPUBackend.Configuration(winograd: true)).floats()
        let direct = Self.conv(x, wt, nil, pad, CPUBackend.Configuration(winograd: false)).floats()
        XCTAssertNotEqual(wino, direct, "both configurations took the same path")
        XCTAssertEqual(conv2d(x, weight: wt, padding: 1).floats(), wino, "the shared backend uses Winograd by default")
    }

    func testIneligibleConvsKeepTheDirectPath() {
        // 4 channels in: below the Winograd threshold, so both switches give identical bits.
        let g = TorchGenerator(seed: 9)
        let x = g.randn([1, 4, 8, 8]), wt = g.randn([8, 4, 3, 3])
        let pad = (top: 1, bottom: 1, left: 1, right: 1)
        let a = Self.conv(x, wt, nil, pad, CPUBackend.Configuration(winograd: true)).floats()
        let b = Self.conv(x, wt, nil, pad, CPUBackend.Configuration(winograd: false)).floats()
        XCTAssertEqual(a, b)
    }
}
