import Foundation

/// Comparing 8-bit pictures with a reference: the largest per-channel difference and the PSNR.
enum PictureComparison {
    /// Peak signal-to-noise ratio in dB of two same-sized byte arrays (infinity when identical).
    static func psnr<A: BinaryInteger, B: BinaryInteger>(_ a: [A], _ b: [B]) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "pictures of \(a.count) and \(b.count) bytes")
        var sum = 0.0
        for (x, y) in zip(a, b) { let d = Double(Int(x) - Int(y)); sum += d * d }
        let mse = sum / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// The largest absolute difference of two same-sized byte arrays.
    static func maxDifference<A: BinaryInteger, B: BinaryInteger>(_ a: [A], _ b: [B]) -> Int {
        zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }
}
