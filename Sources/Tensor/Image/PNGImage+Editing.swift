extension PNGImage {
    /// The alpha plane (`width * height` bytes, row-major), or nil for an RGB image.
    /// Whether any pixel is less than fully opaque (an RGBA picture with an alpha below 255): an
    /// opaque RGBA picture, as many tools export, is an ordinary picture.
    public var hasTransparency: Bool {
        channels == 4 && stride(from: 3, to: pixels.count, by: 4).contains { pixels[$0] < 255 }
    }

    /// The transparency as a repaint mask (255 - alpha: transparent = repaint); nil unless
    /// `hasTransparency`.
    public func transparencyMask() -> [UInt8]? {
        hasTransparency ? alpha()?.map { 255 - $0 } : nil
    }

    /// An RGBA picture composited over `background` (RGB, A1111's img2img background white by
    /// default); an RGB picture as it is.
    public func flattened(over background: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> PNGImage {
        guard channels == 4 else { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let bg = [UInt32(background.0), UInt32(background.1), UInt32(background.2)]
        for i in 0..<(width * height) {
            let a = UInt32(pixels[i * 4 + 3])
            for c in 0..<3 { out[i * 3 + c] = UInt8((UInt32(pixels[i * 4 + c]) * a + bg[c] * (255 - a) + 127) / 255) }
        }
        return try! PNGImage(width: width, height: height, channels: 3, pixels: out)
    }

    public func alpha() -> [UInt8]? {
        guard channels == 4 else { return nil }
        return (0..<(width * height)).map { pixels[$0 * 4 + 3] }
    }

    /// The image grown by the given number of pixels on each side, the new pixels copying the nearest edge
    /// pixel (edge replication), as outpainting's starting canvas. Margins must be >= 0.
    public func padded(left: Int, top: Int, right: Int, bottom: Int) throws -> PNGImage {
        guard left >= 0, top >= 0, right >= 0, bottom >= 0 else {
            throw TensorError.invalidArgument("padding \(left), \(top), \(right), \(bottom) must be >= 0")
        }
        let ow = width + left + right, oh = height + top + bottom
        guard ow.multipliedReportingOverflow(by: oh).partialValue <= 1 << 28 else {
            throw TensorError.invalidArgument("padded size \(ow)x\(oh) is too large")
        }
        let c = channels
        var out = [UInt8](repeating: 0, count: ow * oh * c)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    let sy = min(max(y - top, 0), height - 1)
                    for x in 0..<ow {
                        let sx = min(max(x - left, 0), width - 1)
                        let s = (sy * width + sx) * c, d = (y * ow + x) * c
                        for k in 0..<c { dst[d + k] = src[s + k] }
                    }
                }
            }
        }
        return try PNGImage(width: ow, height: oh, channels: c, pixels: out)
    }

    /// The `width` x `height` part whose top-left pixel is (`x`, `y`); it must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> PNGImage {
        guard x >= 0, y >= 0, w > 0, h > 0, x + w <= width, y + h <= height else {
            throw TensorError.invalidArgument("crop \(w)x\(h) at (\(x), \(y)) lies outside the \(width)x\(height) image")
        }
        if (x, y, w, h) == (0, 0, width, height) { return self }
        var out = [UInt8]()
        out.reserveCapacity(w * h * channels)
        for row in y..<(y + h) { out += pixels[((row * width + x) * channels)..<((row * width + x + w) * channels)] }
        return try PNGImage(width: w, height: h, channels: channels, pixels: out)
    }
}
