/// A JPEG's EXIF UserComment (APP1 "Exif"), where AUTOMATIC1111 and Forge keep a JPEG's generation
/// parameters (see `EXIFUserComment`).
extension JPEG {
    /// The UserComment of a JPEG's EXIF as text, or nil when the file has none or its EXIF is malformed.
    public static func userComment(in jpeg: [UInt8]) -> String? {
        exifPayload(jpeg).flatMap(EXIFUserComment.read)
    }
}
