import XCTest
import Tensor

final class ViewTests: XCTestCase {
    func testPermuteThenContiguousReordersElements() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let y = x.permuted(2, 0, 1).contiguous()
        XCTAssertEqual(y.shape, [4, 2, 3])
        let v = y.floats()
        // y[k, i, j] = x[i, j, k] = i*12 + j*4 + k
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 {
            XCTAssertEqual(v[k * 6 + i * 3 + j], Float(i * 12 + j * 4 + k))
        } } }
    }

    func testSliceSelectExpandShareStorage() {
        let x = Tensor((0..<12).map(Float.init), shape: [3, 4])
        let s = x.slice(dim: 1, start: 1, end: 4, step: 2)
        XCTAssertEqual(s.shape, [3, 2])
        XCTAssertTrue(s.storage === x.storage)
        XCTAssertEqual(s.floats(), [1, 3, 5, 7, 9, 11])
        XCTAssertEqual(x.select(dim: 0, index: -1).floats(), [8, 9, 10, 11])
        let e = Tensor([1, 2, 3], shape: [3, 1]).expanded([2, 3, 2])
        XCTAssertEqual(e.strides, [0, 1, 0])
        XCTAssertEqual(e.floats(), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
    }

    func testReshapeInfersAndCopiesOnlyWhenNeeded() {
        let x = Tensor((0..<12).map(Float.init), shape: [3, 4])
        let r = x.reshaped(2, -1)
        XCTAssertEqual(r.shape, [2, 6])
        XCTAssertTrue(r.storage === x.storage)
        let t = x.transposed().reshaped(12)
        XCTAssertFalse(t.storage === x.storage)
        XCTAssertEqual(Array(t.floats().prefix(4)), [0, 4, 8, 1])
    }

    func testChunkAndSplitCoverTheDimension() {
        let x = Tensor((0..<10).map(Float.init), shape: [10])
        let parts = x.split([3, 7], dim: 0)
        XCTAssertEqual(parts[1].floats(), [3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(x.reshaped(2, 5).chunked(5, dim: 1)[4].floats(), [4, 9])
    }

    func testDTypeRoundTrips() {
        let vals: [Float] = [0, 1, -2.5, 0.1, 1000, -65504, 3.0e-5]
        let x = Tensor(vals, shape: [vals.count])
        XCTAssertEqual(x.to(.bf16).floats(), vals.map { BFloat16.float(fromBits: BFloat16.bits(from: $0)) })
        XCTAssertEqual(x.to(.f16).floats()[4], 1000)
        XCTAssertEqual(x.to(.f16).floats()[5], -65504)
        XCTAssertEqual(Tensor([0.5, 448, 1000], shape: [3]).to(.f8e4m3fn).floats(), [0.5, 448, 448])
        XCTAssertEqual(Tensor(integers: [1, -2, 300], shape: [3]).to(.f32).floats(), [1, -2, 300])
        XCTAssertEqual(Tensor([1.9, -2.7], shape: [2]).to(.i32).integers(), [1, -2])
    }
}
