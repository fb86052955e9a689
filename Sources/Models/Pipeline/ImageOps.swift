import Tensor

/// The 8-bit picture operations the conditioned pipelines use, in one place.
// TODO(#18 merge): forward to Tensor/Image (Pillow-exact Lanczos and GaussianBlur, OpenCV-exact Canny).
enum ImageOps {
    static func resized(_ p: PNGImage, width: Int, height: Int) throws -> PNGImage {
        throw ModelError.invalidParameter("resizing pictures (\(p.width)x\(p.height) -> \(width)x\(height)) is not available yet")
    }
    static func resizedPlane(_ plane: [UInt8], width: Int, height: Int, to w: Int, _ h: Int) throws -> [UInt8] {
        throw ModelError.invalidParameter("resizing masks (\(width)x\(height) -> \(w)x\(h)) is not available yet")
    }
    static func gaussianBlur(_ plane: [UInt8], width: Int, height: Int, radius: Int) -> [UInt8] { plane }
    static func canny(_ p: PNGImage, low: Int, high: Int) -> PNGImage { p }
}
