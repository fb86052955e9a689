import Models

/// Limits on the pictures a job may carry (docs/API.md, "Input pictures").
public struct ServerImageLimits: Sendable, Equatable {
    /// Largest encoded picture (PNG/JPEG file bytes, after base64 decoding).
    public var maxImageBytes: Int = 16 << 20
    /// Largest job body carrying pictures (JSON with base64 fields, or multipart).
    public var maxUploadBytes: Int = 48 << 20
    /// Largest decoded picture, width x height, checked from the file's header before decoding.
    public var maxInputPixels: Int = 4096 * 4096

    public init() {}
}
