import XCTest
import Tensor

/// conv2d and nearest 2x upsampling against PyTorch float64 references (Tools/make_linalg_fixtures.py).
/// Tolerance: |ours - ref| <= 1e-5 |ref| + 1e-5 max|ref| (sums over Cin/groups * kh * kw <= 72 terms).
final class ConvTests: XCTestCase {
    private func run(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try LinalgFixture(name)
        let s = f.ints("stride"), p = f.ints("padding"), groups = f.params["groups"] as! Int
        let bias: Tensor? = name == "conv_rect" || name == "conv_1x1_groups" ? nil : f["bias"]
        let y = conv2d(f["x"], weight: f["w"], bias: bias, stride: (s[0], s[1]),
                       padding: (top: p[0], bottom: p[1], left: p[2], right: p[3]), groups: groups)
        assertClose(y, f["out"], name, file: file, line: line)
    }

    func testConv3x3Padding1() throws { try run("conv_3x3") }
    func testConv1x1DirectGEMM() throws { try run("conv_1x1") }
    func testConvStride2AsymmetricPadding() throws { try run("conv_down") }
    func testConvGroups() throws { try run("conv_groups") }
    func testConvNonSquareKernelPerAxisStride() throws { try run("conv_rect") }
    func testConv1x1Groups() throws { try run("conv_1x1_groups") }

    func testConvConvenienceOverloads() throws {
        let f = try LinalgFixture("conv_3x3")
        assertClose(conv2d(f["x"], weight: f["w"], bias: f["bias"], padding: 1), f["out"], "Int padding")
        assertClose(conv2d(f["x"], weight: f["w"], bias: f["bias"], stride: (1, 1), padding: (1, 1)), f["out"], "pair padding")
        let r = try LinalgFixture("conv_rect")
        assertClose(conv2d(r["x"], weight: r["w"], stride: (2, 1), padding: (1, 2)), r["out"], "pair stride/padding")
        let d = try LinalgFixture("conv_down")
        assertClose(conv2d(d["x"], weight: d["w"], bias: d["bias"], stride: (2, 2), padding: (0, 1, 0, 1)), d["out"], "4-tuple")
    }

    func testConvBandTilingMatchesAtAnyTileSize() throws {
        let f = try LinalgFixture("conv_bands")
        let saved = CPUBackend.Configuration().convTileBytes
        // 72 x 20 floats per output row: 1 row per band (24 bands, per-worker path), 5 rows per band
        // (uneven last band), and the default (one band for the whole image, threaded im2col path).
        for bytes in [1, 72 * 20 * 4 * 5, saved] {
            let b = CPUBackend(configuration: CPUBackend.Configuration(convTileBytes: bytes))
            let y = conv2d(f["x"].moved(to: b), weight: f["w"].moved(to: b), bias: f["bias"].moved(to: b), padding: 1)
            assertClose(y, f["out"], "tile bytes \(bytes)")
        }
    }

    func testConvStridedAndHalfInputs() throws {
        let f = try LinalgFixture("conv_3x3")
        // A permuted (non-contiguous) input is copied first; a bf16 weight is widened.
        let xt = f["x"].permuted(0, 1, 3, 2).contiguous().permuted(0, 1, 3, 2)
        XCTAssertFalse(xt.isContiguous)
        assertClose(conv2d(xt, weight: f["w"], bias: f["bias"], padding: 1), f["out"], "strided input")
        let w16 = f["w"].to(.bf16)
        assertClose(conv2d(f["x"], weight: w16, bias: f["bias"], padding: 1),
                    conv2d(f["x"], weight: w16.to(.f32), bias: f["bias"], padding: 1), rtol: 0, atol: 0, "bf16 weight")
    }

    func testUpsampleNearest2x() throws {
        let f = try LinalgFixture("upsample")
        let y = upsampleNearest2x(f["x"])
        XCTAssertEqual(y.shape, [2, 3, 8, 10])
        assertClose(y, f["out"], rtol: 0, atol: 0, "upsample")
        // A strided view gives the same result.
        let xt = f["x"].permuted(0, 1, 3, 2).contiguous().permuted(0, 1, 3, 2)
        assertClose(upsampleNearest2x(xt), f["out"], rtol: 0, atol: 0, "upsample strided")
    }
}
