/// An 8-bit RGB or RGBA image: `height` rows of `width` pixels, channels interleaved, row-major, no padding.
public struct PNGImage: Equatable, Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// 3 (RGB) or 4 (RGBA, straight not premultiplied alpha).
    public let channels: Int
    /// `height * width * channels` bytes: pixel (y, x) channel c is at `(y * width + x) * channels + c`.
    public var pixels: [UInt8]

    /// An image from interleaved pixels. Throws `TensorError.invalidArgument` when the sizes disagree.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else { throw TensorError.invalidArgument("image size \(width)x\(height) must be positive") }
        guard channels == 3 || channels == 4 else { throw TensorError.invalidArgument("image channels must be 3 or 4, not \(channels)") }
        let (wc, o1) = width.multipliedReportingOverflow(by: channels)
        let (n, o2) = wc.multipliedReportingOverflow(by: height)
        guard !o1, !o2, pixels.count == n else {
            throw TensorError.invalidArgument("\(pixels.count) bytes do not fill a \(width)x\(height)x\(channels) image")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A black (and, for RGBA, transparent) image.
    public init(width: Int, height: Int, channels: Int = 3) {
        precondition(width > 0 && height > 0 && (channels == 3 || channels == 4), "bad image size \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = [UInt8](repeating: 0, count: width * height * channels)
    }

    /// The image without its alpha channel (itself when already RGB).
    public func rgb() -> PNGImage {
        if channels == 3 { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            out[3 * i] = pixels[4 * i]; out[3 * i + 1] = pixels[4 * i + 1]; out[3 * i + 2] = pixels[4 * i + 2]
        }
        return try! PNGImage(width: width, height: height, channels: 3, pixels: out)
    }
}
