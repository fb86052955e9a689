import Foundation
import XCTest
import Quant
import Tensor

/// Dequantisation and quantisation of ggml blocks against the reference `gguf` package (numpy), on
/// Fixtures/gguf/blocks.gguf (Tools/make_gguf_fixtures.py): bit-identical floats and bytes.
final class GGUFBlockTests: XCTestCase {
    static let blocksPath = Bundle.module.resourcePath! + "/Fixtures/gguf/blocks.gguf"

    /// Equal bit patterns, or both NaN (numpy and the CPU may make NaNs of another sign).
    static func sameFloats(_ a: [Float], _ b: [Float]) -> (Int, String) {
        var bad = 0, first = ""
        for (i, (x, y)) in zip(a, b).enumerated() where !(x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)) {
            if bad == 0 { first = "element \(i): \(x) vs \(y)" }
            bad += 1
        }
        return (bad + abs(a.count - b.count), first)
    }

    func testReaderSeesThePythonWrittenFile() throws {
        let f = try GGUFFile(path: Self.blocksPath)
        XCTAssertEqual(f.header.version, 3)
        XCTAssertEqual(f.architecture, "majicflux-test")
        XCTAssertEqual(f.header.alignment, 32)
        XCTAssertEqual(f.tensorInfos.count, 13 * 2 + 8 * 3)
        let q = try f.info(named: "q4_k.random")
        XCTAssertEqual(q.type, .q4_K)
        XCTAssertEqual(q.dimensions, [256, 4])
        XCTAssertEqual(q.shape, [4, 256])
        XCTAssertEqual(q.byteCount, 4 * 144)
        XCTAssertEqual(try f.tensor(named: "q4_k.random").shape, [4, 256])
        XCTAssertEqual(try f.tensor(named: "f16.random").dtype, .f16, "plain types come back as stored")
    }

    func testDequantizationIsBitIdenticalToGGUFPyForEveryType() throws {
        let f = try GGUFFile(path: Self.blocksPath)
        for type in GGMLType.dequantizable {
            let name = type.name.lowercased()
            var cases = ["\(name).random"]
            if GGMLType.quantizable.contains(type) && type.blockSize < 256 { cases.append("\(name).quantized") }
            for c in cases {
                XCTAssertEqual(try f.info(named: c).type, type)
                let ours = try f.tensor(named: c, as: .f32).floats()
                let reference = try f.tensor(named: c + ".expected").floats()
                XCTAssertEqual(ours.count, 1024)
                let (bad, first) = Self.sameFloats(ours, reference)
                XCTAssertEqual(bad, 0, "\(c): \(bad) values differ from gguf.quants.dequantize, first \(first)")
            }
        }
    }

    func testQuantizationBytesAreIdenticalToGGUFPy() throws {
        let f = try GGUFFile(path: Self.blocksPath)
        // The k-quants' reference is ggml's C (GGUFKQuantTests): gguf.quants cannot quantize them.
        for type in GGMLType.quantizable where type.blockSize < 256 {
            let name = type.name.lowercased()
            let source = try f.tensor(named: "\(name).source").floats()
            let reference = Array(try f.bytes(named: "\(name).quantized"))
            var ours = [UInt8](repeating: 0, count: GGUFQuantize.byteCount(type, count: source.count))
            try source.withUnsafeBufferPointer { s in
                try ours.withUnsafeMutableBytes { try GGUFQuantize.quantize(type, from: s.baseAddress!, count: source.count, into: $0.baseAddress!) }
            }
            let differing = zip(ours, reference).enumerated().filter { $1.0 != $1.1 }.map(\.offset)
            XCTAssertEqual(ours.count, reference.count, "\(type)")
            XCTAssertTrue(differing.isEmpty, "\(type): \(differing.count) bytes differ from gguf.quants.quantize, first at \(differing.first ?? -1)")
        }
    }

    func testTypesOutsideTheSetAreRefusedByName() throws {
        XCTAssertThrowsError(try GGUFDequantize.dequantize(.iq2_XXS, from: UnsafeRawPointer(bitPattern: 8)!, count: 256,
                                                           into: UnsafeMutablePointer<Float>.allocate(capacity: 1))) {
            XCTAssertTrue("\($0)".contains("IQ2_XXS"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFQuantize.quantize(.iq4_XS, from: UnsafePointer<Float>(bitPattern: 8)!, count: 256,
                                                       into: UnsafeMutableRawPointer(bitPattern: 8)!)) {
            XCTAssertTrue("\($0)".contains("IQ4_XS"), "\($0)")
        }
        XCTAssertEqual(GGMLType(name: "q4_k"), .q4_K)
        XCTAssertEqual(GGMLType(name: "IQ2_XXS"), .iq2_XXS)
        XCTAssertNil(GGMLType(name: "q9_0"))
    }

    /// Dequantisation speed on a 3072x3072 tensor per type (random blocks with finite scales), f32 out,
    /// and quantisation speed for the writable types (printed).
    func testSpeed3072x3072() throws {
        let n = 3072 * 3072
        let out = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { out.deallocate() }
        var lines: [String] = []
        for type in GGMLType.dequantizable {
            let bytes = n / type.blockSize * type.typeSize
            var raw = [UInt8](repeating: 0, count: bytes)
            var rng = SplitMix(seed: 7)
            for i in 0..<bytes { raw[i] = UInt8(truncatingIfNeeded: rng.next()) }
            if type.blockSize > 1 {  // finite scales: clear the exponent's top bit of every byte pair
                for i in stride(from: 1, to: bytes, by: 2) { raw[i] &= 0x3B }
            }
            try raw.withUnsafeBytes { r in
                try GGUFDequantize.dequantize(type, from: r.baseAddress!, count: n, into: out)  // warm up
                let start = Date()
                try GGUFDequantize.dequantize(type, from: r.baseAddress!, count: n, into: out)
                let s = Date().timeIntervalSince(start)
                lines.append(String(format: "%@ %.1f ms (%.0f M elements/s)", type.name, s * 1000, Double(n) / s / 1e6))
            }
        }
        print("GGUF dequantize 3072x3072 -> f32, \(CPUBackend.shared.parallel.threadCount) threads: " + lines.joined(separator: ", "))
        // Quantisation (the writer's side) of the same size from f32 values.
        var rng = SplitMix(seed: 9)
        for i in 0..<n { out[i] = Float(Int(rng.next() % 20001) - 10000) / 5000 }
        var quantLines: [String] = []
        for type in GGMLType.quantizable {
            var q = [UInt8](repeating: 0, count: GGUFQuantize.byteCount(type, count: n))
            try q.withUnsafeMutableBytes { b in
                let start = Date()
                try GGUFQuantize.quantize(type, from: out, count: n, into: b.baseAddress!)
                let s = Date().timeIntervalSince(start)
                quantLines.append(String(format: "%@ %.1f ms", type.name, s * 1000))
            }
        }
        print("GGUF quantize f32 -> 3072x3072: " + quantLines.joined(separator: ", "))
    }
}

/// SplitMix64 for deterministic random bytes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}
