/// Gaussian blur bit-exact to Pillow's `ImageFilter.GaussianBlur(radius)` (src/libImaging/BoxBlur.c):
/// three passes of an "extended" box blur (fractional radius: the two outer pixels get the fractional
/// weight) horizontally, then three vertically, in 24-bit fixed point, edges extended by replication.
public enum BoxBlur {
    /// `plane` (`height` rows of `width` bytes, an L image) blurred as Pillow's
    /// `image.filter(ImageFilter.GaussianBlur(radius))`. Radius 0 returns the plane unchanged.
    public static func gaussianBlur(_ plane: [UInt8], width: Int, height: Int, radius: Float) throws -> [UInt8] {
        guard width > 0, height > 0, plane.count == width * height else {
            throw TensorError.invalidArgument("blur: \(plane.count) bytes are not a \(width)x\(height) plane")
        }
        guard radius >= 0, radius <= 100_000 else {
            throw TensorError.invalidArgument("blur radius \(radius) must be between 0 and 100000")
        }
        if radius == 0 { return plane }
        let box = boxRadius(sigma: radius, passes: 3)
        var img = plane
        // ImagingBoxBlur skips a direction whose box radius is 0.
        if box != 0 {
            for _ in 0..<3 { img = blurRows(img, width: width, height: height, radius: box) }
            var t = transpose(img, width: width, height: height)
            for _ in 0..<3 { t = blurRows(t, width: height, height: width, radius: box) }
            img = transpose(t, width: height, height: width)
        }
        return img
    }

    /// Pillow's _gaussian_blur_radius: the extended-box radius whose `passes`-fold repetition has the
    /// variance of a Gaussian with standard deviation `sigma` (Gwosdek et al. 2011), in C float arithmetic.
    static func boxRadius(sigma radius: Float, passes: Int) -> Float {
        let sigma2: Float = radius * radius / Float(passes)
        let L = Float((12.0 * Double(sigma2) + 1.0).squareRoot())
        let l = Float(((Double(L) - 1.0) / 2.0).rounded(.down))
        var a: Float = (2 * l + 1) * (l * (l + 1) - 3 * sigma2)
        a /= 6 * (sigma2 - (l + 1) * (l + 1))
        return l + a
    }

    /// One horizontal extended-box pass over every row (Pillow's ImagingHorizontalBoxBlur, 8-bit path).
    static func blurRows(_ input: [UInt8], width: Int, height: Int, radius floatRadius: Float) -> [UInt8] {
        let radius = Int(floatRadius)
        let ww = UInt32(Float(UInt32(1 << 24)) / (floatRadius * 2 + 1))
        let fw = (UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* ww) / 2
        let edgeA = min(radius + 1, width), edgeB = max(width - radius - 1, 0)
        let lastx = width - 1
        var out = [UInt8](repeating: 0, count: input.count)
        input.withUnsafeBufferPointer { all in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let row = y * width
                    @inline(__always) func px(_ x: Int) -> UInt32 { UInt32(all[row + x]) }
                    // Unsigned 32-bit arithmetic that wraps, as the C code's UINT32 accumulators.
                    var acc = px(0) &* UInt32(radius + 1)
                    var x = 0
                    while x < edgeA - 1 { acc &+= px(x); x += 1 }
                    acc &+= px(lastx) &* UInt32(radius - edgeA + 1)
                    @inline(__always) func step(_ x: Int, sub: Int, add: Int, left: Int, right: Int) {
                        acc = acc &+ px(add) &- px(sub)
                        let bulk = acc &* ww &+ (px(left) &+ px(right)) &* fw
                        dst[row + x] = UInt8(truncatingIfNeeded: (bulk &+ (1 << 23)) >> 24)
                    }
                    if edgeA <= edgeB {
                        for x in 0..<edgeA { step(x, sub: 0, add: x + radius, left: 0, right: x + radius + 1) }
                        for x in edgeA..<edgeB { step(x, sub: x - radius - 1, add: x + radius, left: x - radius - 1, right: x + radius + 1) }
                        for x in edgeB...lastx { step(x, sub: x - radius - 1, add: lastx, left: x - radius - 1, right: lastx) }
                    } else {
                        for x in 0..<edgeB { step(x, sub: 0, add: x + radius, left: 0, right: x + radius + 1) }
                        for x in edgeB..<edgeA { step(x, sub: 0, add: lastx, left: 0, right: lastx) }
                        if edgeA <= lastx {
                            for x in edgeA...lastx { step(x, sub: x - radius - 1, add: lastx, left: x - radius - 1, right: lastx) }
                        }
                    }
                }
            }
        }
        return out
    }

    static func transpose(_ p: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: p.count)
        for y in 0..<height { for x in 0..<width { out[x * height + y] = p[y * width + x] } }
        return out
    }
}

extension PNGImage {
    /// The image blurred channel by channel as Pillow's `image.filter(ImageFilter.GaussianBlur(radius))`
    /// (alpha included and not premultiplied, as Pillow does).
    public func gaussianBlurred(radius: Float) throws -> PNGImage {
        var out = pixels
        let n = width * height
        for ch in 0..<channels {
            let plane = (0..<n).map { pixels[$0 * channels + ch] }
            let b = try BoxBlur.gaussianBlur(plane, width: width, height: height, radius: radius)
            for i in 0..<n { out[i * channels + ch] = b[i] }
        }
        return try PNGImage(width: width, height: height, channels: channels, pixels: out)
    }
}
