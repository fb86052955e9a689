import Foundation
import Tensor

/// The live preview: the pipeline's clean-latent estimate projected to RGB without the VAE.
///
/// The 16 latent channels of each latent pixel (H/8 x W/8) are projected onto their three principal
/// components for this frame (a 16x16 covariance and power iteration: far cheaper than one step),
/// each stretched to mean +- 2.5 standard deviations. The colours are false colours; the layout and
/// shapes are those the VAE will decode. This is the only arithmetic the App does.
enum LatentPreview {
    /// A PNG data URL of the preview, or nil when the latents are not the expected packed shape.
    static func dataURL(packed: Tensor, width: Int, height: Int) -> String? {
        guard let rgb = project(packed: packed, width: width, height: height),
              let png = try? PNG.encode(rgb, fast: true) else { return nil }
        return "data:image/png;base64," + Data(png).base64EncodedString()
    }

    /// Unpacks (1, (H/16)(W/16), C*4) tokens of 2x2 latent pixels and projects them to 8-bit RGB.
    static func project(packed: Tensor, width: Int, height: Int) -> PNGImage? {
        let (lh, lw) = (height / 8, width / 8)
        let (gh, gw) = (lh / 2, lw / 2)
        guard packed.shape.count == 3, packed.shape[1] == gh * gw, packed.shape[2] % 4 == 0, gh > 0, gw > 0 else { return nil }
        let dim = packed.shape[2]
        let channels = dim / 4
        let tokens = packed.floats()
        let n = lh * lw
        // pixels[p * channels + c]: latent pixel p (row-major), channel c. Token layout: c * 4 + dy * 2 + dx.
        var pixels = [Float](repeating: 0, count: n * channels)
        for y in 0..<lh {
            for x in 0..<lw {
                let t = (y / 2) * gw + (x / 2), sub = (y % 2) * 2 + (x % 2)
                let p = y * lw + x
                for c in 0..<channels { pixels[p * channels + c] = tokens[t * dim + c * 4 + sub] }
            }
        }
        var mean = [Double](repeating: 0, count: channels)
        for p in 0..<n { for c in 0..<channels { mean[c] += Double(pixels[p * channels + c]) } }
        for c in 0..<channels { mean[c] /= Double(n) }
        var cov = [Double](repeating: 0, count: channels * channels)
        for p in 0..<n {
            for i in 0..<channels {
                let a = Double(pixels[p * channels + i]) - mean[i]
                for j in i..<channels { cov[i * channels + j] += a * (Double(pixels[p * channels + j]) - mean[j]) }
            }
        }
        for i in 0..<channels { for j in i..<channels { cov[j * channels + i] = cov[i * channels + j] } }
        let axes = principalAxes(cov, size: channels, count: 3)

        var out = [UInt8](repeating: 0, count: n * 3)
        for (k, axis) in axes.enumerated() {
            var values = [Double](repeating: 0, count: n)
            var sum = 0.0, sumSq = 0.0
            for p in 0..<n {
                var v = 0.0
                for c in 0..<channels { v += (Double(pixels[p * channels + c]) - mean[c]) * axis[c] }
                values[p] = v
                sum += v
                sumSq += v * v
            }
            let m = sum / Double(n)
            let sd = max((sumSq / Double(n) - m * m).squareRoot(), 1e-6)
            for p in 0..<n {
                let u = ((values[p] - m) / (5 * sd) + 0.5) * 255
                out[p * 3 + k] = UInt8(max(0, min(255, u.rounded())))
            }
        }
        return try? PNGImage(width: lw, height: lh, channels: 3, pixels: out)
    }

    /// The `count` leading eigenvectors of a symmetric matrix (power iteration with deflation), each
    /// signed so that its largest entry is positive (steady colours from one step to the next).
    static func principalAxes(_ matrix: [Double], size: Int, count: Int) -> [[Double]] {
        var a = matrix
        var axes: [[Double]] = []
        for k in 0..<min(count, size) {
            var v = (0..<size).map { 1.0 + Double(($0 + k) % size) / Double(size) }
            var lambda = 0.0
            for _ in 0..<60 {
                var w = [Double](repeating: 0, count: size)
                for i in 0..<size { for j in 0..<size { w[i] += a[i * size + j] * v[j] } }
                let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm < 1e-12 { break }
                lambda = norm
                v = w.map { $0 / norm }
            }
            if let big = v.max(by: { abs($0) < abs($1) }), big < 0 { v = v.map { -$0 } }
            axes.append(v)
            for i in 0..<size { for j in 0..<size { a[i * size + j] -= lambda * v[i] * v[j] } }
        }
        while axes.count < count { axes.append([Double](repeating: 0, count: size)) }
        return axes
    }
}
