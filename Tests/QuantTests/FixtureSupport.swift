import Foundation
import XCTest

/// Loads the JSON fixtures written by Tools/make_quant_fixtures.py.
enum Fixture {
    static func json(_ name: String) throws -> [String: Any] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            throw XCTSkip("fixture \(name).json missing: run Tools/make_quant_fixtures.py")
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    static func ints(_ v: Any?) -> [Int] { (v as! [NSNumber]).map { $0.intValue } }

    static func bytes(_ v: Any?) -> [UInt8] { [UInt8](Data(base64Encoded: v as! String)!) }

    static func floats(_ v: Any?) -> [Float] {
        let b = bytes(v)
        return b.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

/// A compressed exhaustive mapping: input bit pattern `starts[i]..<starts[i+1]` encodes to `codes[i]`.
struct Runs {
    let starts: [Int]
    let codes: [UInt8]

    init(_ v: Any?) {
        let d = v as! [String: Any]
        starts = Fixture.ints(d["starts"])
        codes = Fixture.ints(d["codes"]).map { UInt8($0) }
    }

    /// Index of the run containing `pattern`.
    func runIndex(_ pattern: Int) -> Int {
        var lo = 0, hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= pattern { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Expected code of `pattern`.
    func code(_ pattern: Int) -> UInt8 { codes[runIndex(pattern)] }
}
