import Foundation
import Models
import Tensor

/// One finished picture in the history gallery.
struct HistoryEntry: Codable, Sendable, Equatable {
    /// The id of the job that made it.
    var id: String
    /// The PNG's file name in the output folder.
    var file: String
    /// Where the API serves it: `/images/<file>`.
    var url: String
    /// Unix time it was made.
    var created: Double
    /// Seconds the job ran.
    var seconds: Double
    var model: String
    var parameters: JobParameters
}

/// The output folder: one PNG per picture (parameters in its text chunks) and `history.json`, the
/// index the gallery reads. Both are written before a job is reported done, the index atomically,
/// so a restart loses nothing. A missing or unreadable index is rebuilt from the PNGs' chunks.
final class HistoryStore: @unchecked Sendable {
    let directory: String
    private let lock = NSLock()
    private var entries: [HistoryEntry] = []
    private var nextNumber = 1
    private var indexPath: String { directory + "/history.json" }

    init(directory: String) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw APIError(.internalServerError, "cannot create the output folder \(directory): \(error.localizedDescription)")
        }
        entries = Self.loadIndex(indexPath) ?? Self.rebuild(from: directory)
        nextNumber = (entries.compactMap { Int($0.file.prefix(while: \.isNumber)) }.max() ?? 0) + 1
    }

    /// Newest first.
    func list() -> [HistoryEntry] { lock.withLock { entries.reversed() } }

    /// The entry whose PNG has this exact file name (the only names `/images/` serves).
    func entry(file: String) -> HistoryEntry? { lock.withLock { entries.first { $0.file == file } } }

    /// Writes the PNG with its parameters, then the index; returns the new entry.
    func add(_ image: GeneratedImage, jobID: String, model: String, seconds: Double) throws -> HistoryEntry {
        let png = try PNG.encode(try image.png, text: image.parameterText(model: model))
        return try lock.withLock {
            let number = String(nextNumber)
            let file = String(repeating: "0", count: max(0, 5 - number.count)) + number + "-\(image.request.seed).png"
            let entry = HistoryEntry(id: jobID, file: file, url: "/images/" + file, created: Date().timeIntervalSince1970,
                                     seconds: seconds, model: model, parameters: JobParameters(image.request))
            try Data(png).write(to: URL(fileURLWithPath: directory + "/" + file), options: .atomic)
            entries.append(entry)
            nextNumber += 1
            try writeIndex()
            return entry
        }
    }

    /// The bytes of a listed PNG.
    func pngData(file: String) throws -> Data {
        guard entry(file: file) != nil else { throw APIError.notFound("no such image: \(file)") }
        do { return try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)) } catch {
            throw APIError.notFound("image \(file) is listed but its file is gone from \(directory)")
        }
    }

    private func writeIndex() throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try e.encode(entries).write(to: URL(fileURLWithPath: indexPath), options: .atomic)
    }

    private static func loadIndex(_ path: String) -> [HistoryEntry]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode([HistoryEntry].self, from: data)
    }

    /// Reads the `majicflux` chunk of every PNG in the folder (oldest name first).
    private static func rebuild(from directory: String) -> [HistoryEntry] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".png") && HistoryStore.isSafeName($0) }.sorted()
        return names.compactMap { name in
            let path = directory + "/" + name
            guard let (_, text) = try? PNG.read(path),
                  let json = text.first(where: { $0.key == "majicflux" })?.value,
                  let parameters = try? JSONDecoder().decode(JobParameters.self, from: Data(json.utf8)) else { return nil }
            let model = text.first { $0.key == "parameters" }?.value.components(separatedBy: "Model: ").last ?? ""
            let created = ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)?
                .timeIntervalSince1970 ?? 0
            return HistoryEntry(id: String(name.dropLast(4)), file: name, url: "/images/" + name, created: created,
                                seconds: 0, model: model, parameters: parameters)
        }
    }

    /// File names the server itself makes: letters, digits, '-', '_' and one ".png" (no '/', no '..').
    static func isSafeName(_ name: String) -> Bool {
        guard name.hasSuffix(".png"), name.count <= 128 else { return false }
        let stem = name.dropLast(4)
        return !stem.isEmpty && stem.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
    }
}
