#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// Reading JSON config files (`config.json`, `scheduler_config.json`, `model_index.json`).
public enum ConfigFile {
    /// Decodes `path` as `T`, turning a missing file or bad JSON into a `ModelError` naming the file.
    /// A `ValidatedConfig` is also checked against its bounds (`ModelError.badConfig` naming the key).
    public static func load<T: Decodable>(_ type: T.Type, path: String, what: String) throws -> T {
        let data = try read(path, what: what)
        let value: T
        do { value = try JSONDecoder().decode(T.self, from: data) }
        catch { throw ModelError.badConfig(path: path, reason: describe(error)) }
        try (value as? ValidatedConfig)?.validate(path: path)
        return value
    }

    /// The bytes of `path`: `missingFile` when absent, `badConfig` when it is no regular file (a FIFO
    /// would block the read until someone writes to it) or cannot be read.
    public static func read(_ path: String, what: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.missingFile(path: path, what: what) }
        do {
            let file = try MappedFile(path: path)
            return withExtendedLifetime(file) { Data(file.bytes) }  // copied while still mapped
        }
        catch let e as TensorError {
            if case .io(_, let reason) = e { throw ModelError.badConfig(path: path, reason: reason) }
            throw ModelError.badConfig(path: path, reason: "\(e)")
        }
    }

    static func describe(_ error: Error) -> String {
        func at(_ ctx: DecodingError.Context) -> String { ctx.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(let type, let ctx):
            return "wrong type at '\(at(ctx))' (expected \(typeName(type)))"
        case DecodingError.valueNotFound(let type, let ctx):
            return "wrong type at '\(at(ctx))' (expected \(typeName(type)), got null)"
        case DecodingError.dataCorrupted(let ctx) where !ctx.codingPath.isEmpty:
            // A number that does not fit the type (1e308 or 2.5 where an integer belongs).
            return "bad value at '\(at(ctx))' (\(ctx.debugDescription))"
        case DecodingError.dataCorrupted(let ctx): return "not valid JSON (\(ctx.debugDescription))"
        default: return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        if type == Int.self { return "an integer" }
        if type == Double.self { return "a number" }
        if type == Bool.self { return "true or false" }
        if type == String.self { return "a string" }
        return "\(type)"
    }
}
