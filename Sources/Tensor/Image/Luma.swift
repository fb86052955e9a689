extension PNGImage {
    /// The luma plane (`width * height` bytes, row-major) exactly as Pillow's `convert("L")`: ITU-R 601-2
    /// L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16. Alpha is ignored, as Pillow ignores it.
    public func luma() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        let c = channels
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<(width * height) {
                let r = UInt32(p[i * c]), g = UInt32(p[i * c + 1]), b = UInt32(p[i * c + 2])
                out[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
            }
        }
        return out
    }

    /// An RGB image whose three channels all hold `plane` (`width * height` bytes): how Pillow turns
    /// an L image into RGB (`convert("RGB")`).
    public static func gray(_ plane: [UInt8], width: Int, height: Int) throws -> PNGImage {
        guard width > 0, height > 0, plane.count == width * height else {
            throw TensorError.invalidArgument("\(plane.count) bytes are not a \(width)x\(height) gray plane")
        }
        var px = [UInt8](repeating: 0, count: plane.count * 3)
        for i in 0..<plane.count { px[3 * i] = plane[i]; px[3 * i + 1] = plane[i]; px[3 * i + 2] = plane[i] }
        return try PNGImage(width: width, height: height, channels: 3, pixels: px)
    }
}
