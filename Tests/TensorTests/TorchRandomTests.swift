import Foundation
import Tensor
import XCTest

/// Compares `TorchGenerator` with bit patterns drawn from PyTorch 2.x's CPU generator
/// (Tools/make_random_fixtures.py). Tolerance: 0 ulp (bit-exact) for every f32 and bf16 value.
final class TorchRandomTests: XCTestCase {
    struct Case: Decodable { let seed: UInt64; let n: Int; let bits: [UInt32] }
    struct HalfCase: Decodable { let dtype: String; let seed: UInt64; let n: Int; let bits: [UInt16] }
    struct Sequence: Decodable { let seed: UInt64; let ops: [[Op]]; let bits: [[UInt32]] }
    enum Op: Decodable {
        case name(String), count(Int)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .count(i) } else { self = .name(try c.decode(String.self)) }
        }
    }
    struct Latent: Decodable {
        let seed: UInt64; let shape: [Int]; let stride: Int
        let sample_bits: [UInt32]; let fnv1a64: String; let sum: Double
    }
    struct Fixture: Decodable {
        let torch_version: String
        let randn_f32: [Case]; let rand_f32: [Case]; let sequences: [Sequence]; let latents: [Latent]
        let randn_half: [HalfCase]; let rand_half: [HalfCase]
    }

    static let fixture: Fixture = {
        let url = Bundle.module.url(forResource: "torch_random", withExtension: "json", subdirectory: "Fixtures/random")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// Distance in units in the last place between two float32 bit patterns (0 = identical bits).
    static func ulps(_ a: UInt32, _ b: UInt32) -> Int {
        func ordered(_ x: UInt32) -> Int { x & 0x8000_0000 != 0 ? -Int(x & 0x7FFF_FFFF) : Int(x) }
        return abs(ordered(a) - ordered(b))
    }

    static func bits(_ t: Tensor) -> [UInt32] { t.floats().map(\.bitPattern) }

    func assertBits(_ got: [UInt32], _ want: [UInt32], maxUlps: Int = 0, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
        var worst = 0, worstAt = -1
        for i in 0..<min(got.count, want.count) {
            let d = Self.ulps(got[i], want[i])
            if d > worst { worst = d; worstAt = i }
        }
        XCTAssertLessThanOrEqual(worst, maxUlps, "\(what): \(worst) ulp at index \(worstAt)", file: file, line: line)
    }

    func testSeedZeroVectorsFromReferenceDoc() {
        // flux-reference.md section 6 (printed to 8 digits there; compared at 1e-6 relative).
        let big = TorchGenerator(seed: 0).randn([16]).floats()
        let want: [Float] = [-1.1258398, -1.1523602, -0.25057858, -0.4338788, 0.84871036, 0.69200915, -0.31601277, -2.1152194]
        for i in 0..<8 { XCTAssertEqual(big[i], want[i], accuracy: 1e-6 * abs(want[i]) + 1e-7, "n>=16 [\(i)]") }
        let small = TorchGenerator(seed: 0).randn([6]).floats()
        let wantSmall: [Float] = [1.5410, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986]
        for i in 0..<6 { XCTAssertEqual(small[i], wantSmall[i], accuracy: 5e-5, "n<16 [\(i)]") }
    }

    func testRandnFloat32MatchesTorchBitExact() {
        for c in Self.fixture.randn_f32 {
            let got = Self.bits(TorchGenerator(seed: c.seed).randn([c.n]))
            assertBits(got, c.bits, "randn seed \(c.seed) n \(c.n)")
        }
    }

    func testRandFloat32MatchesTorchBitExact() {
        for c in Self.fixture.rand_f32 {
            let got = Self.bits(TorchGenerator(seed: c.seed).rand([c.n]))
            assertBits(got, c.bits, "rand seed \(c.seed) n \(c.n)")
        }
    }

    func testSuccessiveCallsContinueTheStream() {
        for s in Self.fixture.sequences {
            let g = TorchGenerator(seed: s.seed)
            for (k, op) in s.ops.enumerated() {
                guard case .name(let name) = op[0], case .count(let n) = op[1] else { return XCTFail("bad op") }
                switch name {
                case "randn": assertBits(Self.bits(g.randn([n])), s.bits[k], "seed \(s.seed) op \(k) randn(\(n))")
                case "rand": assertBits(Self.bits(g.rand([n])), s.bits[k], "seed \(s.seed) op \(k) rand(\(n))")
                case "reseed": g.manualSeed(UInt64(n))
                default: XCTFail("unknown op \(name)")
                }
            }
        }
    }

    func testFluxLatentNoiseMatchesTorch() {
        for l in Self.fixture.latents {
            let t = TorchGenerator(seed: l.seed).randn(l.shape)
            XCTAssertEqual(t.shape, l.shape)
            let values = t.floats()
            let all = values.map(\.bitPattern)
            let sample = stride(from: 0, to: all.count, by: l.stride).map { all[$0] }
            assertBits(sample, l.sample_bits, "latent seed \(l.seed) subsample")
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for w in all { for b in 0..<4 { h = (h ^ UInt64((w >> (8 * UInt32(b))) & 0xFF)) &* 0x0000_0100_0000_01B3 } }
            XCTAssertEqual(String(h, radix: 16).leftPadded(16), l.fnv1a64, "latent seed \(l.seed): hash of all bits")
            let sum = values.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, l.sum, accuracy: 1e-9 * max(1, abs(l.sum)), "latent seed \(l.seed) sum")
        }
    }

    /// 16-bit results compared as 16-bit patterns: 0 ulp in the 16-bit format.
    func testHalfPrecisionRandnAndRandMatchTorchBitExact() {
        func halfBits(_ t: Tensor) -> [UInt16] { t.hostBytes().withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) } }
        func ulps16(_ a: UInt16, _ b: UInt16) -> Int {
            func o(_ x: UInt16) -> Int { x & 0x8000 != 0 ? -Int(x & 0x7FFF) : Int(x) }
            return abs(o(a) - o(b))
        }
        var zerosFromRoundingUp = 0
        for (cases, isNormal) in [(Self.fixture.randn_half, true), (Self.fixture.rand_half, false)] {
            for c in cases {
                let dtype: DType = c.dtype == "bf16" ? .bf16 : .f16
                let g = TorchGenerator(seed: c.seed)
                let t = isNormal ? g.randn([c.n], dtype: dtype) : g.rand([c.n], dtype: dtype)
                XCTAssertEqual(t.dtype, dtype)
                let got = halfBits(t)
                XCTAssertEqual(got.count, c.bits.count)
                let worst = zip(got, c.bits).map { ulps16($0, $1) }.max() ?? 0
                XCTAssertEqual(worst, 0, "\(isNormal ? "randn" : "rand") \(c.dtype) seed \(c.seed) n \(c.n): \(worst) ulp")
                if !isNormal && dtype == .bf16 {
                    // count the uniforms torch mapped from 1.0 to 0.0 (f32 uniform >= 1 - 2^-9)
                    let f = TorchGenerator(seed: c.seed).randFloats(count: c.n)
                    zerosFromRoundingUp += zip(f, got).filter { $0 >= 1 - 1.0 / 512 && $1 == 0 }.count
                }
            }
        }
        XCTAssertGreaterThan(zerosFromRoundingUp, 0, "fixtures should exercise the round-up-to-1 rule")
    }

    func testManualSeedUsesLow32BitsAndResetsCache() {
        let a = TorchGenerator(seed: 5).randn([40]).floats()
        let b = TorchGenerator(seed: (1 << 32) + 5).randn([40]).floats()
        XCTAssertEqual(a, b)
        let g = TorchGenerator(seed: 3)
        let first = g.randn([1]).floats()
        _ = g.randn([1]) // consumes the cached value
        g.manualSeed(3)
        XCTAssertEqual(g.randn([1]).floats(), first)
        XCTAssertEqual(g.initialSeed, 3)
        // A copy continues identically and independently.
        let c = g.copy()
        XCTAssertEqual(c.randn([33]).floats(), g.randn([33]).floats())
    }

    func testRandnLatent128IsFast() {
        let g = TorchGenerator(seed: 1)
        let start = Date()
        let t = g.randn([1, 16, 128, 128])
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(t.count, 262_144)
        print("randn(1,16,128,128): \(String(format: "%.2f", elapsed * 1000)) ms")
        XCTAssertLessThan(elapsed, 0.5, "randn of a 128x128 latent should take well under a second")
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
