/// Bounds that model config values are checked against before any model is built from them.
///
/// They are generous (far above any released model) but finite: a config value decides loop counts,
/// tensor sizes and divisions, so an absurd one must be an error that names the file and the key,
/// never an arithmetic trap, a giant allocation or a loop that does not end.
public enum ConfigBounds {
    /// Layers (blocks) in one stack.
    public static let layers = 1...512
    /// Attention heads.
    public static let heads = 1...1024
    /// Widths: hidden sizes, head sizes, feed-forward sizes, channels.
    public static let dims = 1...65536
    /// Vocabulary sizes.
    public static let vocab = 1...10_000_000
    /// Resolution levels of a VAE (`block_out_channels` entries).
    public static let levels = 1...8
    /// Token counts of a schedule (`base_image_seq_len`, `max_image_seq_len`).
    public static let tokens = 1...1_048_576
}

/// Checks the values of one config file; each failure is a `ModelError.badConfig` naming the file
/// (`path`) and the key.
struct ConfigCheck {
    /// The config file (or a description of where the values came from).
    let path: String

    func error(_ key: String, _ problem: String) -> ModelError {
        .badConfig(path: path, reason: "\(key) \(problem)")
    }

    /// `value` must lie in `range`.
    func int(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
    }

    /// `value` must be finite and lie in `range`.
    func double(_ key: String, _ value: Double, _ range: ClosedRange<Double>) throws {
        guard value.isFinite, range.contains(value) else {
            throw error(key, "must be a number between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
    }

    /// `value` must be finite, greater than 0 and at most `max`.
    func positive(_ key: String, _ value: Double, max: Double) throws {
        guard value.isFinite, value > 0, value <= max else {
            throw error(key, "must be a number greater than 0 and at most \(max), got \(value)")
        }
    }

    /// `value` must be a multiple of `divisor` (named `divisorKey`; the divisor is already checked > 0).
    func divisible(_ key: String, _ value: Int, by divisorKey: String, _ divisor: Int) throws {
        guard value % divisor == 0 else {
            throw error(key, "(\(value)) must be divisible by \(divisorKey) (\(divisor))")
        }
    }
}

/// A config type whose values `ConfigFile.load` checks right after decoding.
public protocol ValidatedConfig {
    /// Throws `ModelError.badConfig` naming `path` and the first key whose value is out of bounds or
    /// inconsistent with another.
    func validate(path: String) throws
}

extension KeyedDecodingContainer {
    /// `decodeIfPresent(Int.self, forKey:)`, naming the key when the number is no integer (2.5) or
    /// does not fit one (1e308): JSONDecoder reports those as invalid JSON, without a coding path.
    func decodeIntIfPresent(_ key: Key) throws -> Int? {
        do { return try decodeIfPresent(Int.self, forKey: key) }
        catch where !hasCodingPath(error) {
            let number = (try? decodeIfPresent(Double.self, forKey: key)).flatMap { $0 }
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key],
                                                    debugDescription: "\(number.map { "\($0)" } ?? "the value") is not an integer"))
        }
    }

    /// `decodeIfPresent([Int].self, forKey:)`, naming the key as `decodeIntIfPresent` does.
    func decodeIntsIfPresent(_ key: Key) throws -> [Int]? {
        do { return try decodeIfPresent([Int].self, forKey: key) }
        catch where !hasCodingPath(error) {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: "not a list of integers"))
        }
    }
}

/// Whether a decoding error already says where it happened.
private func hasCodingPath(_ error: Error) -> Bool {
    switch error {
    case DecodingError.dataCorrupted(let c), DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
         DecodingError.keyNotFound(_, let c):
        return !c.codingPath.isEmpty
    default: return false
    }
}
