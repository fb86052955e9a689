#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading JSON config files (`config.json`, `scheduler_config.json`, `model_index.json`).
public enum ConfigFile {
    /// Decodes `path` as `T`, turning a missing file or bad JSON into a `ModelError` naming the file.
    public static func load<T: Decodable>(_ type: T.Type, path: String, what: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.missingFile(path: path, what: what)
        }
        do { return try JSONDecoder().decode(T.self, from: data) }
        catch { throw ModelError.badConfig(path: path, reason: describe(error)) }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let ctx): return "not valid JSON (\(ctx.debugDescription))"
        default: return "\(error)"
        }
    }
}
