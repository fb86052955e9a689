import XCTest
import Foundation
import Tensor

/// Loads the PyTorch fixtures written by `Tools/make_op_fixtures.py` (Fixtures/ops/<file>.json).
/// Named `Elem*` so it cannot clash with other helpers' fixture code in this test target.
struct ElemFixture {
    let file: String
    let cases: [String: [String: Any]]

    init(_ file: String) throws {
        guard let url = Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "Fixtures/ops") else {
            throw NSError(domain: "ElemFixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "missing fixture ops/\(file).json"])
        }
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        self.file = file
        self.cases = root["cases"] as! [String: [String: Any]]
    }

    func entry(_ name: String) -> [String: Any] {
        guard let c = cases[name] else { fatalError("fixture \(file) has no case \(name)") }
        return c
    }

    /// Decodes a stored tensor: (shape, floats) or (shape, ints).
    static func decode(_ obj: Any) -> (shape: [Int], floats: [Float]?, ints: [Int]?) {
        let d = obj as! [String: Any]
        let shape = (d["shape"] as! [NSNumber]).map { $0.intValue }
        if let b64 = d["f32"] as? String {
            let data = Data(base64Encoded: b64)!
            let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            return (shape, floats, nil)
        }
        return (shape, nil, (d["ints"] as! [NSNumber]).map { $0.intValue })
    }

    /// Input `key` of case `name` as a tensor (f32, or i64/`intType` for integer inputs).
    func input(_ name: String, _ key: String, intType: DType = .i64) -> Tensor {
        let inputs = entry(name)["inputs"] as! [String: Any]
        let t = ElemFixture.decode(inputs[key]!)
        if let f = t.floats { return Tensor(f, shape: t.shape) }
        return Tensor(integers: t.ints!, shape: t.shape, dtype: intType)
    }

    /// Expected output of case `name` (shape and values).
    func output(_ name: String, _ key: String = "output") -> (shape: [Int], values: [Float]) {
        let t = ElemFixture.decode(entry(name)[key]!)
        return (t.shape, t.floats!)
    }

    func double(_ name: String, _ key: String) -> Double { (entry(name)[key] as! NSNumber).doubleValue }
    func int(_ name: String, _ key: String) -> Int { (entry(name)[key] as! NSNumber).intValue }
    func ints(_ name: String, _ key: String) -> [Int] { (entry(name)[key] as! [NSNumber]).map { $0.intValue } }
    func bool(_ name: String, _ key: String) -> Bool { (entry(name)[key] as! NSNumber).boolValue }
}

/// Asserts `actual` has `expected`'s shape and |a - e| <= atol + rtol * |e| elementwise (NaN only
/// matches NaN). Reports the worst element.
func elemAssertClose(_ actual: Tensor, _ expected: (shape: [Int], values: [Float]), rtol: Float, atol: Float,
                     _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(what): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    XCTAssertEqual(actual.dtype, .f32, "\(what): result dtype", file: file, line: line)
    let got = actual.floats()
    var worst = 0, worstExcess: Float = -1
    for i in 0..<got.count {
        let e = expected.values[i], a = got[i]
        if e.isNaN || a.isNaN {
            if !(e.isNaN && a.isNaN) { worst = i; worstExcess = .infinity; break }
            continue
        }
        if e.isInfinite || a.isInfinite {
            if a != e { worst = i; worstExcess = .infinity; break }
            continue
        }
        let excess = Swift.abs(a - e) - (atol + rtol * Swift.abs(e))
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    XCTAssertLessThanOrEqual(worstExcess, 0,
        "\(what): element \(worst) is \(got.isEmpty ? .nan : got[worst]), expected \(expected.values.isEmpty ? .nan : expected.values[worst]) (rtol \(rtol), atol \(atol))",
        file: file, line: line)
}

final class ElementwiseFixtureTests: XCTestCase {
    /// Every fixture file loads, and every stored tensor's data fills its shape.
    func testFixtureFilesAreWellFormed() throws {
        for name in ["elementwise", "reduction", "norm", "indexing"] {
            let fx = try ElemFixture(name)
            XCTAssertGreaterThan(fx.cases.count, 3, name)
            for (caseName, c) in fx.cases {
                var tensors: [Any] = Array((c["inputs"] as! [String: Any]).values)
                tensors += c.filter { $0.key.hasPrefix("output") }.map { $0.value }
                for t in tensors {
                    let d = ElemFixture.decode(t)
                    XCTAssertEqual(d.floats?.count ?? d.ints!.count, d.shape.reduce(1, *), "\(name)/\(caseName)")
                }
            }
        }
    }
}
