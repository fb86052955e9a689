extension ImageResize {
    /// Nearest-neighbour resizing exactly as Pillow's `Image.resize(size, Image.NEAREST)` (its affine
    /// scale: source column floor((x + 0.5) * in / out), the position stepped in double precision as
    /// Pillow's ImagingScaleAffine steps it), for interleaved 8-bit pixels of any channel count.
    public static func nearest(_ pixels: [UInt8], width: Int, height: Int, channels: Int,
                               toWidth newWidth: Int, toHeight newHeight: Int) throws -> [UInt8] {
        guard width > 0, height > 0, newWidth > 0, newHeight > 0 else {
            throw TensorError.invalidArgument("resize \(width)x\(height) -> \(newWidth)x\(newHeight): sizes must be positive")
        }
        guard channels > 0, pixels.count == width * height * channels else {
            throw TensorError.invalidArgument("resize: \(pixels.count) bytes are not a \(width)x\(height)x\(channels) image")
        }
        guard newWidth <= 1 << 16, newHeight <= 1 << 16 else {
            throw TensorError.invalidArgument("resize to \(newWidth)x\(newHeight): at most 65536 pixels a side")
        }
        func sources(_ inSize: Int, _ outSize: Int) -> [Int] {
            let step = Double(inSize) / Double(outSize)
            var position = step * 0.5
            return (0..<outSize).map { _ in
                defer { position += step }
                return Swift.min(Int(position), inSize - 1)
            }
        }
        let xs = sources(width, newWidth), ys = sources(height, newHeight)
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * channels)
        for (y, sy) in ys.enumerated() {
            for (x, sx) in xs.enumerated() {
                let s = (sy * width + sx) * channels, d = (y * newWidth + x) * channels
                for k in 0..<channels { out[d + k] = pixels[s + k] }
            }
        }
        return out
    }
}

extension PNGImage {
    /// The image resized to `width` x `height` by nearest neighbour, as Pillow's
    /// `Image.resize((width, height), Image.NEAREST)` (alpha kept as is).
    public func resizedNearest(width newWidth: Int, height newHeight: Int) throws -> PNGImage {
        if newWidth == width && newHeight == height { return self }
        let px = try ImageResize.nearest(pixels, width: width, height: height, channels: channels, toWidth: newWidth, toHeight: newHeight)
        return try PNGImage(width: newWidth, height: newHeight, channels: channels, pixels: px)
    }
}
