#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// File helpers shared by the tokenizers: whole-file reads with errors that name the file.
enum TokenizerFiles {
    /// Joins a directory and a file name with exactly one `/`.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// True when a regular file (or a link to one) exists at `path`.
    static func exists(_ path: String) -> Bool {
        var isDirectory = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory
    }

    /// Reads the whole file, throwing `fileNotFound` / `unreadable` with the path.
    static func read(_ path: String) throws -> [UInt8] {
        guard exists(path) else { throw TokenizerError.fileNotFound(path: path) }
        do {
            // Through MappedFile: it refuses FIFOs and other non-regular files without blocking.
            let file = try MappedFile(path: path)
            return withExtendedLifetime(file) { [UInt8](file.bytes) }
        } catch {
            throw TokenizerError.unreadable(path: path, reason: "\(error)")
        }
    }

    /// Reads a UTF-8 text file; invalid UTF-8 is a `malformed` error.
    static func readText(_ path: String) throws -> String {
        let bytes = try read(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TokenizerError.malformed(path: path, reason: "not valid UTF-8")
        }
        return text
    }

    /// Decodes a JSON file into `T` with `JSONDecoder`, mapping decoding errors to `malformed`.
    static func decodeJSON<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        let bytes = try read(path)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw TokenizerError.malformed(path: path, reason: "invalid JSON for the expected structure (\(error))")
        }
    }
}
