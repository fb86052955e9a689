#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lanczos resampling bit-exact to Pillow's `Image.resize(size, Image.LANCZOS)` on 8-bit images
/// (Pillow's src/libImaging/Resample.c): a two-pass separable convolution, horizontal then vertical,
/// with support 3 scaled by the downscale factor, coefficients normalised to sum 1 in double precision,
/// then rounded to 22-bit fixed point; each pass rounds and clips to 8 bits. Horizontal pass first,
/// except where Pillow 13 runs the vertical one first (see `lanczos`).
public enum ImageResize {
    /// Pillow's PRECISION_BITS for 8-bit images: 32 - 8 (result) - 2 (headroom for negative lobes).
    static let precisionBits = 22

    /// Resizes `pixels` (`height` rows of `width` pixels of `channels` interleaved 8-bit channels, 1...4)
    /// to `newWidth` x `newHeight` with Lanczos-3, exactly as Pillow resizes an L / RGB / RGBX image
    /// (no alpha premultiplication; see `PNGImage.resized` for RGBA).
    public static func lanczos(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                               toWidth newWidth: Int, toHeight newHeight: Int) throws -> [UInt8] {
        guard width > 0, height > 0, newWidth > 0, newHeight > 0 else {
            throw TensorError.invalidArgument("resize \(width)x\(height) -> \(newWidth)x\(newHeight): sizes must be positive")
        }
        guard (1...4).contains(channels), pixels.count == width * height * channels else {
            throw TensorError.invalidArgument("resize: \(pixels.count) bytes are not a \(width)x\(height)x\(channels) image")
        }
        guard newWidth <= 1 << 16, newHeight <= 1 << 16 else {
            throw TensorError.invalidArgument("resize to \(newWidth)x\(newHeight): at most 65536 pixels a side")
        }
        var current = pixels
        // Pillow skips a pass whose size (and box) is unchanged. Since Pillow 13 (PR #9549) it runs the
        // vertical pass first when the height shrinks by more than twice as many pixels as the width
        // (the rule below reproduces Pillow 13.0.0 on 1468 random size pairs; the order changes the
        // 8-bit intermediate, so it matters for bit-exactness).
        let needH = newWidth != width, needV = newHeight != height
        let verticalFirst = needH && needV && newHeight < height && height - newHeight > 2 * (width - newWidth)
        if verticalFirst {
            current = vertical(current, width: width, channels: channels,
                               coefficients(inSize: height, outSize: newHeight), outHeight: newHeight)
            current = horizontal(current, width: width, height: newHeight, channels: channels,
                                 coefficients(inSize: width, outSize: newWidth), outWidth: newWidth)
            return current
        }
        if needH {
            current = horizontal(current, width: width, height: height, channels: channels,
                                 coefficients(inSize: width, outSize: newWidth), outWidth: newWidth)
        }
        if needV {
            current = vertical(current, width: newWidth, channels: channels,
                               coefficients(inSize: height, outSize: newHeight), outHeight: newHeight)
        }
        return current
    }

    /// Per output position: the first input index, the number of taps and the fixed-point weights.
    struct Coefficients {
        var bounds: [(min: Int, count: Int)]
        var weights: [Int32]   // outSize * ksize, row-major
        var ksize: Int
    }

    static func lanczosFilter(_ x: Double) -> Double {
        func sinc(_ x: Double) -> Double {
            if x == 0.0 { return 1.0 }
            let px = x * Double.pi
            return sin(px) / px
        }
        if -3.0 <= x && x < 3.0 { return sinc(x) * sinc(x / 3) }
        return 0.0
    }

    /// Pillow's precompute_coeffs for the box (0, inSize) followed by normalize_coeffs_8bpc.
    static func coefficients(inSize: Int, outSize: Int) -> Coefficients {
        // box = (0, inSize) as C floats: in1 - in0 is exact.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = 3.0 * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        let invFilterscale = 1.0 / filterscale
        var bounds: [(min: Int, count: Int)] = []
        bounds.reserveCapacity(outSize)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = 0.0 + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let xmin = max(Int(center - support + 0.5), 0)          // C (int) truncation, as Pillow
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            for x in 0..<xmax {
                let w = lanczosFilter((Double(x + xmin) - center + 0.5) * invFilterscale)
                k[x] = w
                ww += w
            }
            if ww != 0.0 {
                for x in 0..<xmax { k[x] /= ww }
            }
            for x in 0..<max(xmax, 0) {
                let v = k[x] * Double(1 << precisionBits)
                weights[xx * ksize + x] = Int32(k[x] < 0 ? -0.5 + v : 0.5 + v) // truncation toward zero
            }
            bounds.append((xmin, max(xmax, 0)))
        }
        return Coefficients(bounds: bounds, weights: weights, ksize: ksize)
    }

    @inline(__always) static func clip8(_ ss: Int32) -> UInt8 {
        let v = ss >> Int32(precisionBits) // arithmetic shift: floor, as Pillow's table lookup
        return v < 0 ? 0 : v > 255 ? 255 : UInt8(v)
    }

    static func horizontal(_ input: [UInt8], width: Int, height: Int, channels c: Int, _ k: Coefficients, outWidth: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outWidth * height * c)
        let half = Int32(1 << (precisionBits - 1))
        input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                k.weights.withUnsafeBufferPointer { wts in
                    for y in 0..<height {
                        let row = y * width * c
                        for xx in 0..<outWidth {
                            let (xmin, n) = k.bounds[xx]
                            let kw = xx * k.ksize
                            let p0 = row + xmin * c
                            let o = (y * outWidth + xx) * c
                            for ch in 0..<c {
                                var ss = half
                                for x in 0..<n { ss &+= Int32(src[p0 + x * c + ch]) &* wts[kw + x] }
                                dst[o + ch] = clip8(ss)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    static func vertical(_ input: [UInt8], width: Int, channels c: Int, _ k: Coefficients, outHeight: Int) -> [UInt8] {
        let rowLen = width * c
        var out = [UInt8](repeating: 0, count: rowLen * outHeight)
        let half = Int32(1 << (precisionBits - 1))
        var acc = [Int32](repeating: 0, count: rowLen)
        input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                k.weights.withUnsafeBufferPointer { wts in
                    acc.withUnsafeMutableBufferPointer { acc in
                        // Row-at-a-time accumulation: the same integer sums as Pillow's per-pixel loop.
                        for yy in 0..<outHeight {
                            let (ymin, n) = k.bounds[yy]
                            for i in 0..<rowLen { acc[i] = half }
                            for y in 0..<n {
                                let w = wts[yy * k.ksize + y]
                                let r = (y + ymin) * rowLen
                                for i in 0..<rowLen { acc[i] &+= Int32(src[r + i]) &* w }
                            }
                            let o = yy * rowLen
                            for i in 0..<rowLen { dst[o + i] = clip8(acc[i]) }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension PNGImage {
    /// The image resized to `width` x `height` with Lanczos-3, bit-exact to Pillow's
    /// `Image.resize((width, height), Image.LANCZOS)`. RGBA is resized as Pillow does it: premultiplied by
    /// alpha ("RGBa"), resized, then un-premultiplied. Returns the image itself when the size is unchanged.
    public func resized(width newWidth: Int, height newHeight: Int) throws -> PNGImage {
        if newWidth == width && newHeight == height { return self }
        if channels == 3 {
            let px = try ImageResize.lanczos(pixels, width: width, height: height, channels: 3, toWidth: newWidth, toHeight: newHeight)
            return try PNGImage(width: newWidth, height: newHeight, channels: 3, pixels: px)
        }
        let pre = ImageResize.premultiplied(pixels)
        let px = try ImageResize.lanczos(pre, width: width, height: height, channels: 4, toWidth: newWidth, toHeight: newHeight)
        return try PNGImage(width: newWidth, height: newHeight, channels: 4, pixels: ImageResize.unpremultiplied(px))
    }
}

extension ImageResize {
    /// Pillow's RGBA -> RGBa: c * a / 255 with its MULDIV255 rounding.
    static func premultiplied(_ rgba: [UInt8]) -> [UInt8] {
        var out = rgba
        for i in stride(from: 0, to: rgba.count, by: 4) {
            let a = UInt32(rgba[i + 3])
            for k in 0..<3 {
                let t = UInt32(rgba[i + k]) * a + 128
                out[i + k] = UInt8(((t >> 8) + t) >> 8)
            }
        }
        return out
    }

    /// Pillow's RGBa -> RGBA: 255 * c / a (integer division) clipped, alpha 0 and 255 kept as is.
    static func unpremultiplied(_ rgba: [UInt8]) -> [UInt8] {
        var out = rgba
        for i in stride(from: 0, to: rgba.count, by: 4) {
            let a = Int(rgba[i + 3])
            guard a != 0 && a != 255 else { continue }
            for k in 0..<3 { out[i + k] = UInt8(min(255, 255 * Int(rgba[i + k]) / a)) }
        }
        return out
    }
}
