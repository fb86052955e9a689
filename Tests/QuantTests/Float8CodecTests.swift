import Foundation
import XCTest
import Tensor
import Quant

/// float8 codecs against PyTorch (fixtures from Tools/make_quant_fixtures.py, torch 2.15 CPU).
/// Tolerance: none. Every comparison is bit-exact.
final class Float8CodecTests: XCTestCase {
    // unchecked: a constant parsed once (a static let initialises thread-safely) and only read after.
    nonisolated(unsafe) static let codec: [String: Any]? = try? Fixture.json("float8_codec")

    private func codec() throws -> [String: Any] {
        guard let c = Self.codec else { throw XCTSkip("float8_codec.json missing") }
        return c
    }

    /// All 256 codes of both formats decode to PyTorch's f32, bf16 and f16 bits (NaN payloads included).
    func testDecodeAllCodes() throws {
        let dec = try codec()["decode"] as! [String: Any]
        for (name, table, bf16) in [("e4m3fn", Float8E4M3FN.table, Float8E4M3FN.bf16Table),
                                    ("e5m2", Float8E5M2.table, Float8E5M2.bf16Table)] {
            let d = dec[name] as! [String: Any]
            let f32 = Fixture.ints(d["f32"]), b16 = Fixture.ints(d["bf16"]), h16 = Fixture.ints(d["f16"])
            for c in 0..<256 {
                let v = name == "e4m3fn" ? Float8E4M3FN.float(fromBits: UInt8(c)) : Float8E5M2.float(fromBits: UInt8(c))
                XCTAssertEqual(v.bitPattern, UInt32(f32[c]), "\(name) code \(c) -> f32")
                XCTAssertEqual(table[c].bitPattern, UInt32(f32[c]), "\(name) table \(c)")
                XCTAssertEqual(bf16[c], UInt16(b16[c]), "\(name) code \(c) -> bf16")
                // f16: Half's NaN encoding is canonical, so NaN codes are only checked to stay NaN.
                if v.isNaN { XCTAssertTrue(Half.float(fromBits: UInt16(h16[c])).isNaN) } else {
                    XCTAssertEqual(Half.bits(from: v), UInt16(h16[c]), "\(name) code \(c) -> f16")
                }
            }
            // Bulk decode and the Tensor conversion path agree with the table.
            let codes = (0..<256).map { UInt8($0) }
            var out = [Float](repeating: 0, count: 256)
            if name == "e4m3fn" { Float8E4M3FN.decode(codes, into: &out, count: 256) } else { Float8E5M2.decode(codes, into: &out, count: 256) }
            XCTAssertTrue(out.map(\.bitPattern) == f32.map { UInt32($0) }, "\(name) bulk decode")
            let t = Tensor.fromHost(codes, shape: [256], dtype: name == "e4m3fn" ? .f8e4m3fn : .f8e5m2)
            XCTAssertTrue(t.floats().map(\.bitPattern) == f32.map { UInt32($0) }, "\(name) Tensor.to(.f32)")
        }
    }

    /// Explicit edge values (ties, subnormals, ±0, ±448, 464, 480, 57344, 61440, inf, NaNs) through the
    /// scalar encoders, the bulk encoders and Tensor conversion.
    func testEdgeValues() throws {
        let e = try codec()["edges"] as! [String: Any]
        let bits = Fixture.ints(e["bits"]).map { UInt32($0) }
        let xs = bits.map { Float(bitPattern: $0) }
        let sat = Fixture.ints(e["e4m3fn_saturate"]).map(UInt8.init)
        let nan = Fixture.ints(e["e4m3fn_nan"]).map(UInt8.init)
        let e5 = Fixture.ints(e["e5m2"]).map(UInt8.init)
        var bulk = [UInt8](repeating: 0, count: xs.count)
        for (i, x) in xs.enumerated() {
            XCTAssertEqual(Float8E4M3FN.bits(from: x), sat[i], "e4m3fn saturate \(x) (0x\(String(bits[i], radix: 16)))")
            XCTAssertEqual(Float8E4M3FN.bits(from: x, overflow: .nan), nan[i], "e4m3fn nan-mode \(x)")
            XCTAssertEqual(Float8E5M2.bits(from: x), e5[i], "e5m2 \(x)")
        }
        Float8E4M3FN.encode(xs, into: &bulk, count: xs.count); XCTAssertEqual(bulk, sat)
        Float8E4M3FN.encode(xs, into: &bulk, count: xs.count, overflow: .nan); XCTAssertEqual(bulk, nan)
        Float8E5M2.encode(xs, into: &bulk, count: xs.count); XCTAssertEqual(bulk, e5)
        let t = Tensor(xs, shape: [xs.count])
        XCTAssertEqual(t.to(.f8e4m3fn).hostBytes(), sat, "Tensor.to(.f8e4m3fn)")
        XCTAssertEqual(t.to(.f8e5m2).hostBytes(), e5, "Tensor.to(.f8e5m2)")
        // The documented PyTorch 2.11 facts, restated independently of the fixture.
        for v: Float in [448, 449, 456, 464] { XCTAssertEqual(Float8E4M3FN.bits(from: v, overflow: .nan), 0x7E, "\(v)") }
        for v: Float in [464.01, 480, .infinity] { XCTAssertEqual(Float8E4M3FN.bits(from: v, overflow: .nan), 0x7F, "\(v)") }
        XCTAssertEqual(Float8E4M3FN.bits(from: -.infinity), 0xFE)
        XCTAssertEqual(Float8E4M3FN.bits(from: 0x1p-10), 0)
        XCTAssertEqual(Float8E5M2.bits(from: 61440), 0x7C)
    }

    /// bf16 and f16 inputs: all 65536 bit patterns of each, through f32, against PyTorch's direct casts.
    func testAll16BitInputs() throws {
        let c = try codec()
        for src in ["bf16", "f16"] {
            let runs = c[src] as! [String: Any]
            let sat = Runs(runs["e4m3fn_saturate"]), nan = Runs(runs["e4m3fn_nan"]), e5 = Runs(runs["e5m2"])
            var mism = 0
            for p in 0..<65536 {
                let x = src == "bf16" ? BFloat16.float(fromBits: UInt16(p)) : Half.float(fromBits: UInt16(p))
                if Float8E4M3FN.bits(from: x) != sat.code(p) { mism += 1; if mism < 5 { XCTFail("\(src) 0x\(String(p, radix: 16)) e4m3fn") } }
                if Float8E4M3FN.bits(from: x, overflow: .nan) != nan.code(p) { mism += 1; if mism < 5 { XCTFail("\(src) 0x\(String(p, radix: 16)) e4m3fn nan") } }
                if Float8E5M2.bits(from: x) != e5.code(p) { mism += 1; if mism < 5 { XCTFail("\(src) 0x\(String(p, radix: 16)) e5m2") } }
            }
            XCTAssertEqual(mism, 0, "\(src) mismatches")
        }
        // The Tensor conversion path on bf16 input.
        let all = (0..<65536).map { UInt16($0) }
        let t = Tensor.fromHost(all, shape: [65536], dtype: .bf16).to(.f8e4m3fn).hostBytes()
        let sat = Runs((c["bf16"] as! [String: Any])["e4m3fn_saturate"])
        XCTAssertTrue(t == (0..<65536).map { sat.code($0) }, "bf16 Tensor -> f8e4m3fn")
    }

    /// Every one of the 2^32 f32 bit patterns through the bulk encoders, for e4m3fn (both overflow modes)
    /// and e5m2. Set QUANT_EXHAUSTIVE_STRIDE=k to test only every k-th chunk of 2^20 patterns.
    func testAllF32Inputs() throws {
        let f32 = try codec()["f32"] as! [String: Any]
        let stride = max(1, Int(ProcessInfo.processInfo.environment["QUANT_EXHAUSTIVE_STRIDE"] ?? "1") ?? 1)
        for mode in ["e4m3fn_saturate", "e4m3fn_nan", "e5m2"] {
            let runs = Runs(f32[mode])
            let encode: (UnsafePointer<Float>, UnsafeMutablePointer<UInt8>, Int) -> Void
            switch mode {
            case "e4m3fn_saturate": encode = { Float8E4M3FN.encode($0, into: $1, count: $2, overflow: .saturate) }
            case "e4m3fn_nan": encode = { Float8E4M3FN.encode($0, into: $1, count: $2, overflow: .nan) }
            default: encode = { Float8E5M2.encode($0, into: $1, count: $2) }
            }
            let start = Date()
            let (checked, bad, first) = Self.checkExhaustive(runs: runs, chunkStride: stride, encode: encode)
            XCTAssertEqual(bad, 0, "\(mode): \(bad) mismatches; first at f32 bits 0x\(String(first?.0 ?? 0, radix: 16)) got 0x\(String(first?.1 ?? 0, radix: 16)) want 0x\(String(first?.2 ?? 0, radix: 16))")
            print("float8 \(mode): \(checked) inputs checked in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        }
    }

    /// Encodes chunks of 2^20 consecutive bit patterns and compares each run's slice with its code.
    static func checkExhaustive(runs: Runs, chunkStride: Int,
                                encode: (UnsafePointer<Float>, UnsafeMutablePointer<UInt8>, Int) -> Void) -> (Int, Int, (UInt32, UInt8, UInt8)?) {
        let chunk = 1 << 20, chunks = (1 << 32) / chunk
        let picked = Swift.stride(from: 0, to: chunks, by: chunkStride).map { $0 }
        var bad = [Int](repeating: 0, count: picked.count)
        var first = [(UInt32, UInt8, UInt8)?](repeating: nil, count: picked.count)
        bad.withUnsafeMutableBufferPointer { badp in first.withUnsafeMutableBufferPointer { firstp in
            CPUBackend.shared.parallel.forEach(picked.count, grain: 1) { range in
                let input = UnsafeMutablePointer<UInt32>.allocate(capacity: chunk)
                let output = UnsafeMutablePointer<UInt8>.allocate(capacity: chunk)
                defer { input.deallocate(); output.deallocate() }
                for k in range {
                    let base = picked[k] * chunk
                    for i in 0..<chunk { input[i] = UInt32(truncatingIfNeeded: base + i) }
                    input.withMemoryRebound(to: Float.self, capacity: chunk) { encode($0, output, chunk) }
                    var r = runs.runIndex(base)
                    var i = 0
                    var nbad = 0
                    while i < chunk {
                        let end = r + 1 < runs.starts.count ? min(chunk, runs.starts[r + 1] - base) : chunk
                        let want = runs.codes[r]
                        var diff = 0
                        for j in i..<end { diff &+= output[j] != want ? 1 : 0 }
                        if diff > 0 {
                            nbad += diff
                            if firstp[k] == nil, let j = (i..<end).first(where: { output[$0] != want }) {
                                firstp[k] = (UInt32(base + j), output[j], want)
                            }
                        }
                        i = end; r += 1
                    }
                    badp[k] = nbad
                }
            }
        }}
        return (picked.count * chunk, bad.reduce(0, +), first.compactMap { $0 }.first)
    }
}
