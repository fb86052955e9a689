import Foundation
import XCTest
import Tensor

/// One case of the linalg fixtures written by `Tools/make_linalg_fixtures.py`:
/// `Fixtures/linalg/<name>.json` (tensor names, shapes, offsets; parameters) and `<name>.bin`
/// (the tensors as little-endian f32). References were computed by PyTorch in float64.
struct LinalgFixture {
    let name: String
    private let tensors: [String: Tensor]
    let params: [String: Any]

    init(_ name: String) throws {
        self.name = name
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent("linalg") else {
            throw TensorError.io(path: "Fixtures/linalg", reason: "test resources not found")
        }
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("\(name).json"))) as! [String: Any]
        let blob = try Data(contentsOf: dir.appendingPathComponent("\(name).bin"))
        let floats: [Float] = blob.withUnsafeBytes { raw in
            (0..<(blob.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        var tensors: [String: Tensor] = [:]
        for entry in meta["tensors"] as! [[String: Any]] {
            let shape = entry["shape"] as! [Int]
            let offset = entry["offset"] as! Int
            let n = shape.reduce(1, *)
            tensors[entry["name"] as! String] = Tensor(Array(floats[offset..<(offset + n)]), shape: shape)
        }
        self.tensors = tensors
        self.params = meta["params"] as? [String: Any] ?? [:]
    }

    subscript(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture \(name) has no tensor \(key)") }
        return t
    }

    func ints(_ key: String) -> [Int] { params[key] as! [Int] }
}

/// Asserts `actual` matches `expected` elementwise: |a - e| <= rtol * |e| + atol * max|e|.
/// The `atol` term, relative to the largest reference magnitude, absorbs the cancellation error of
/// f32 dot products whose exact value is near zero. Returns the largest absolute error seen.
@discardableResult
func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) -> Float {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.shape == expected.shape else { return .infinity }
    let a = actual.floats(), e = expected.floats()
    let scale = e.map { Swift.abs($0) }.max() ?? 0
    var worst: Float = 0, bad = 0, firstBad = -1
    for i in 0..<a.count {
        let err = Swift.abs(a[i] - e[i])
        if !(err <= rtol * Swift.abs(e[i]) + atol * Swift.max(scale, 1e-30)) {
            bad += 1
            if firstBad < 0 { firstBad = i }
        }
        if !(err <= worst) { worst = err }
    }
    XCTAssertEqual(bad, 0, "\(message): \(bad) of \(a.count) elements off; first at \(firstBad): "
                   + (firstBad >= 0 ? "\(a[firstBad]) vs \(e[firstBad])" : "") + "; max abs error \(worst), max |ref| \(scale)",
                   file: file, line: line)
    return worst
}
