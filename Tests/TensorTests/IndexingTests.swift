import XCTest
import Tensor

/// Embedding and concat against PyTorch fixtures (Fixtures/ops/indexing.json). Both only move
/// values, so the comparison is exact (tolerance 0).
final class IndexingTests: XCTestCase {
    /// i64 and i32 indices of rank 2 and 1; a bf16 table decodes only the picked rows, exactly.
    func testEmbeddingMatchesTorch() throws {
        let fx = try ElemFixture("indexing")
        let table = fx.input("embedding_i64", "table")
        let r = embedding(table, fx.input("embedding_i64", "idx"))
        XCTAssertEqual(r.shape, [2, 4, 16])
        elemAssertClose(r, fx.output("embedding_i64"), rtol: 0, atol: 0, "i64")
        elemAssertClose(embedding(table, fx.input("embedding_i32", "idx", intType: .i32)), fx.output("embedding_i32"),
                        rtol: 0, atol: 0, "i32")
        elemAssertClose(embedding(table.to(.bf16), fx.input("embedding_bf16", "idx")), fx.output("embedding_bf16"),
                        rtol: 0, atol: 0, "bf16 table")
        // Non-contiguous indices (a transposed view).
        let idx = fx.input("embedding_i64", "idx")
        let t = embedding(table, idx.transposed())
        XCTAssertEqual(t.shape, [4, 2, 16])
        XCTAssertEqual(t.select(dim: 0, index: 1).select(dim: 0, index: 0).floats(),
                       r.select(dim: 0, index: 0).select(dim: 0, index: 1).floats())
    }

    /// Concat along dims 1, 0 (with a transposed input) and -1 (with a sliced input).
    func testConcatMatchesTorch() throws {
        let fx = try ElemFixture("indexing")
        let a = fx.input("cat_dim1", "a")
        let r1 = concat([a, fx.input("cat_dim1", "b"), fx.input("cat_dim1", "c")], dim: 1)
        XCTAssertEqual(r1.shape, [2, 9, 4])
        elemAssertClose(r1, fx.output("cat_dim1"), rtol: 0, atol: 0, "dim 1")
        let r0 = concat([a.transposed(0, 1), fx.input("cat_dim0", "d"), fx.input("cat_dim0", "e")], dim: 0)
        elemAssertClose(r0, fx.output("cat_dim0"), rtol: 0, atol: 0, "dim 0, transposed input")
        let r2 = concat([fx.input("cat_last_permuted", "f"), a.slice(dim: 2, start: 0, step: 2), fx.input("cat_last_permuted", "g")], dim: -1)
        elemAssertClose(r2, fx.output("cat_last_permuted"), rtol: 0, atol: 0, "dim -1, sliced input")
    }

    /// Concat keeps the dtype (bf16 bits and integers pass through unchanged).
    func testConcatKeepsDType() {
        let a = Tensor([1.5, -2.25, 3], shape: [1, 3]).to(.bf16), b = Tensor([0.1, 7, 8], shape: [1, 3]).to(.bf16)
        let c = concat([a, b], dim: 0)
        XCTAssertEqual(c.dtype, .bf16)
        XCTAssertEqual(c.hostBytes(), a.hostBytes() + b.hostBytes())
        let i = concat([Tensor(integers: [1, 2], shape: [2]), Tensor(integers: [3], shape: [1])], dim: 0)
        XCTAssertEqual(i.dtype, .i64)
        XCTAssertEqual(i.integers(), [1, 2, 3])
        // Empty pieces are allowed.
        XCTAssertEqual(concat([Tensor.zeros([2, 0]), Tensor([1, 2], shape: [2, 1])], dim: 1).floats(), [1, 2])
    }
}
