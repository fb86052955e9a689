#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Defaults a model folder suggests but does not require: the picture size (`vae/config.json`'s
/// `sample_size`) and the T5 length (`tokenizer_2/tokenizer_config.json`'s `model_max_length`).
/// A value that cannot be used is not silently replaced: the default taken instead (the model kind's,
/// `ModelPreset`) is explained in a warning that names the file, the key and the value.
enum ModelHints {
    /// The most T5 tokens FLUX's text encoder takes.
    static let maxSequenceLength = GenerationLimits.sequenceLengths.upperBound
    /// Sizes a `sample_size` may suggest.
    static let imageSizes = 64...4096
    /// transformers writes `int(1e30)` as `model_max_length` when a tokenizer sets no limit.
    static let noLimitSentinel = 1e29

    /// The T5 length from `path` (absent file or key, or transformers' "no limit": `d`).
    static func sequenceLength(tokenizerConfig path: String, default d: Int, warnings: inout [String]) throws -> Int {
        let key = "model_max_length", most = maxSequenceLength
        guard let value = try member(key, of: path, what: "T5 tokenizer config") else { return d }
        if let v = value.int, (1...most).contains(v) { return v }
        if let v = value.double, v >= noLimitSentinel { return d }
        if let v = value.int, v > most {
            warnings.append("\(path): \(key) \(v) is longer than \(most), the most FLUX's T5 takes; using \(d) tokens")
        } else {
            warnings.append("\(path): \(key) \(value) is not a token count in 1...\(most); using \(d) tokens")
        }
        return d
    }

    /// The picture side from `path` (no file or key: `d`).
    static func imageSize(vaeConfig path: String?, default d: Int, warnings: inout [String]) throws -> Int {
        let key = "sample_size"
        guard let path, let value = try member(key, of: path, what: "VAE config") else { return d }
        if let v = value.int, imageSizes.contains(v), v % 16 == 0 { return v }
        warnings.append("\(path): \(key) \(value) is not a usable picture size (a multiple of 16 in "
                        + "\(imageSizes.lowerBound)...\(imageSizes.upperBound)); the default size is \(d)x\(d)")
        return d
    }

    /// Member `key` of the JSON object in `path`; nil when the file or the key is absent or null.
    private static func member(_ key: String, of path: String, what: String) throws -> JSONValue? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try ConfigFile.read(path, what: what)
        let json: JSONValue
        do { json = try JSONValue.parse([UInt8](data)) } catch {
            throw ModelError.badConfig(path: path, reason: "not valid JSON (\(error))")
        }
        guard let object = json.object else { throw ModelError.badConfig(path: path, reason: "not a JSON object") }
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }
}
