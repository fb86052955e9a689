/// Canny edge detection matching OpenCV's `cv2.Canny(image, low, high)` (aperture 3, L1 gradient) on an
/// 8-bit RGB image: 3x3 Sobel per channel with replicated borders, per pixel the channel with the largest
/// |dx| + |dy| (the first on ties), non-maximum suppression in four directions (tan 22.5° in 15-bit fixed
/// point, zero magnitude outside the picture), then hysteresis: a pixel is an edge when its magnitude
/// passes suppression and exceeds `low`, and it is 8-connected through such pixels to one exceeding `high`.
public enum Canny {
    /// The edge map (`width * height` bytes, 255 edge / 0 not) of an RGB or RGBA image (alpha ignored).
    /// Thresholds are floored to integers as OpenCV does, and swapped when `low > high`.
    public static func edges(_ image: PNGImage, low: Double, high: Double) throws -> [UInt8] {
        guard low.isFinite, high.isFinite, low >= 0, high >= 0 else {
            throw TensorError.invalidArgument("Canny thresholds \(low), \(high) must be finite and >= 0")
        }
        let (lo, hi) = low > high ? (high, low) : (low, high)
        let lowT = Int(lo.rounded(.down)), highT = Int(hi.rounded(.down))
        let w = image.width, h = image.height, c = image.channels
        var mag = [Int32](repeating: 0, count: w * h)
        var gx = [Int16](repeating: 0, count: w * h)
        var gy = [Int16](repeating: 0, count: w * h)
        image.pixels.withUnsafeBufferPointer { p in
            for y in 0..<h {
                let ym = max(y - 1, 0), yp = min(y + 1, h - 1)
                for x in 0..<w {
                    let xm = max(x - 1, 0), xp = min(x + 1, w - 1)
                    var best: Int32 = -1, bx: Int32 = 0, by: Int32 = 0
                    for ch in 0..<3 {
                        @inline(__always) func v(_ yy: Int, _ xx: Int) -> Int32 { Int32(p[(yy * w + xx) * c + ch]) }
                        let dx = (v(ym, xp) - v(ym, xm)) + 2 * (v(y, xp) - v(y, xm)) + (v(yp, xp) - v(yp, xm))
                        let dy = (v(yp, xm) - v(ym, xm)) + 2 * (v(yp, x) - v(ym, x)) + (v(yp, xp) - v(ym, xp))
                        let m = abs(dx) + abs(dy)
                        if m > best { best = m; bx = dx; by = dy }
                    }
                    mag[y * w + x] = best
                    gx[y * w + x] = Int16(bx); gy[y * w + x] = Int16(by)
                }
            }
        }
        // Map with a one-pixel frame: 0 maybe edge, 1 not edge, 2 edge.
        let ms = w + 2
        var map = [UInt8](repeating: 1, count: ms * (h + 2))
        var stack: [Int] = []
        let shift: Int32 = 15
        let tg22 = Int32(0.4142135623730950488016887242097 * Double(1 << 15) + 0.5)
        @inline(__always) func m(_ y: Int, _ x: Int) -> Int32 {
            (y < 0 || y >= h || x < 0 || x >= w) ? 0 : mag[y * w + x]
        }
        for y in 0..<h {
            for x in 0..<w {
                let mm = mag[y * w + x]
                var keep = false
                if mm > lowT {
                    let xs = Int32(gx[y * w + x]), ys = Int32(gy[y * w + x])
                    let ax = abs(xs), ay = abs(ys) << shift
                    let tg22x = ax * tg22
                    if ay < tg22x {
                        keep = mm > m(y, x - 1) && mm >= m(y, x + 1)
                    } else {
                        let tg67x = tg22x + (ax << (shift + 1))
                        if ay > tg67x {
                            keep = mm > m(y - 1, x) && mm >= m(y + 1, x)
                        } else {
                            let s = (xs ^ ys) < 0 ? -1 : 1
                            keep = mm > m(y - 1, x - s) && mm > m(y + 1, x + s)
                        }
                    }
                }
                let at = (y + 1) * ms + x + 1
                if !keep { map[at] = 1 } else if mm > highT { map[at] = 2; stack.append(at) } else { map[at] = 0 }
            }
        }
        // Hysteresis: grow edges into 8-connected candidates.
        let offsets = [-1, 1, -ms - 1, -ms, -ms + 1, ms - 1, ms, ms + 1]
        while let at = stack.popLast() {
            for o in offsets where map[at + o] == 0 {
                map[at + o] = 2
                stack.append(at + o)
            }
        }
        var out = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w where map[(y + 1) * ms + x + 1] == 2 { out[y * w + x] = 255 } }
        return out
    }
}

extension PNGImage {
    /// The Canny edges of the image (see `Canny.edges`) as a white-on-black RGB image: the control
    /// picture FLUX.1 Canny expects.
    public func cannyEdges(low: Double, high: Double) throws -> PNGImage {
        try PNGImage.gray(Canny.edges(self, low: low, high: high), width: width, height: height)
    }
}
