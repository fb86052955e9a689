import Foundation
import Models
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// The output folder: one PNG per picture (parameters in its text chunks) and `history.json`, the
/// index the gallery reads.
///
/// The PNGs are the truth and the index a cache of them: at start the index is reconciled with the
/// folder (unlisted PNGs are added back from their chunks, entries whose PNG is gone are dropped),
/// so a picture written just before a crash is not lost. A new picture takes the next number above
/// every one in the index and in the folder, and never replaces an existing file. A picture whose
/// index cannot be written is still saved and listed (the next start finds it again).
// unchecked: `entries`, `nextNumber` and `indexProblem` are only touched in init or under `lock` (NSLock); `directory` is a `let`.
final class HistoryStore: @unchecked Sendable {
    let directory: String
    private let lock = NSLock()
    private var entries: [HistoryEntry] = []
    private var nextNumber = 1
    /// Why the index could not be written last time, if it could not.
    private(set) var indexProblem: String?
    private var indexPath: String { directory + "/history.json" }

    /// Opens (creating if needed) the folder and reconciles its index; throws only when the folder
    /// cannot be made.
    init(directory: String) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw APIError(.internalServerError, "cannot create the output folder \(directory): \(error.localizedDescription)")
        }
        PictureFile.removePartials(in: directory)
        let index = Self.loadIndex(indexPath)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { HistoryStore.isSafeName($0) }.sorted()
        entries = Self.reconcile(index: index ?? [], files: names, directory: directory)
        // Above every number ever used: listed, in the folder (readable or not), or listed once and
        // since deleted (a browser may still hold that URL, cached as immutable).
        let used = (index ?? []).map(\.file) + entries.map(\.file) + names
        nextNumber = (used.compactMap(HistoryEntry.number(ofFile:)).max() ?? 0) + 1
        if index != entries { saveIndex() }
    }

    /// Newest first.
    func list() -> [HistoryEntry] { lock.withLock { entries.reversed() } }

    /// The entry whose PNG has this exact file name (the only names `/images/` serves).
    func entry(file: String) -> HistoryEntry? { lock.withLock { entries.first { $0.file == file } } }

    /// Writes the PNG with its parameters under a new name, and beside it the job's input pictures
    /// (`NNNNN-SEED-image.png`, `-mask`, `-control`, `-reference`), then the index; returns the new
    /// entry. Throws only when a PNG could not be written (the pictures written so far are removed).
    func add(_ image: GeneratedImage, jobID: String, model: String, seconds: Double,
             conditioning: ImageConditioning? = nil, kind: ModelPreset.ConditioningKind = .base) throws -> HistoryEntry {
        let inputs = conditioning.map { c in JobConditioning.pictures(c) } ?? []
        let encodedInputs = try inputs.map { ($0.role, try PNG.encode($0.picture, fast: true)) }
        return try lock.withLock {
            var number = nextNumber
            while true {
                let file = HistoryEntry.fileName(number: number, seed: image.request.seed)
                var parameters = JobParameters(image.request)
                parameters.conditioning = JobConditioning(conditioning)
                for (role, _) in inputs {
                    let name = HistoryEntry.inputFileName(file, role: role)
                    parameters.conditioning?.inputs[role]?.file = name
                    parameters.conditioning?.inputs[role]?.url = "/images/" + name
                }
                // A name taken behind our back (another process, a copied file) is skipped, never replaced.
                let names = [file] + inputs.map { HistoryEntry.inputFileName(file, role: $0.role) }
                if names.contains(where: { FileManager.default.fileExists(atPath: directory + "/" + $0) }) { number += 1; continue }
                var written: [String] = []
                do {
                    for (role, bytes) in encodedInputs {
                        let name = HistoryEntry.inputFileName(file, role: role)
                        guard try PictureFile.create(bytes, name: name, in: directory) else { throw Taken() }
                        written.append(name)
                    }
                    let png = try PNG.encode(try image.png, text: image.parameterText(model: model, kind: kind, record: parameters.conditioning))
                    guard try PictureFile.create(png, name: file, in: directory) else { throw Taken() }
                } catch {
                    for name in written { unlink(directory + "/" + name) }
                    if error is Taken { number += 1; continue }
                    throw error
                }
                nextNumber = number + 1
                let entry = HistoryEntry(id: jobID, file: file, url: "/images/" + file, created: Date().timeIntervalSince1970,
                                         seconds: seconds, model: model, parameters: parameters)
                entries.append(entry)
                saveIndex()
                return entry
            }
        }
    }

    private struct Taken: Error {}

    /// Removes a picture from the history: its PNG, its input pictures and its index entry. Returns
    /// the entry removed; 404 when no entry has this file.
    func delete(file: String) throws -> HistoryEntry {
        try lock.withLock {
            guard let i = entries.firstIndex(where: { $0.file == file }) else {
                throw APIError.notFound("no such history entry: \(file)")
            }
            let entry = entries.remove(at: i)
            for name in [entry.file] + entry.inputFiles { unlink(directory + "/" + name) }
            saveIndex()
            return entry
        }
    }

    /// The bytes of a listed PNG: a picture, or one of its input pictures.
    func pngData(file: String) throws -> Data {
        let listed = lock.withLock { entries.contains { $0.file == file || $0.inputFiles.contains(file) } }
        guard listed else { throw APIError.notFound("no such image: \(file)") }
        do { return try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)) } catch {
            throw APIError.notFound("image \(file) is listed but its file is gone from \(directory)")
        }
    }

    /// Writes the index; a failure is a warning (once per kind of problem), not an error: the PNGs
    /// hold everything and the next start rebuilds the index from them.
    private func saveIndex() {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try e.encode(entries).write(to: URL(fileURLWithPath: indexPath), options: .atomic)
            indexProblem = nil
        } catch {
            var isFolder: ObjCBool = false
            let problem = FileManager.default.fileExists(atPath: indexPath, isDirectory: &isFolder) && isFolder.boolValue
                ? "\(indexPath) is a folder, not a file" : "\(error.localizedDescription)"
            if problem != indexProblem {
                Console.info("warning: cannot write the history index (\(problem)); pictures are still saved in "
                             + "\(directory)/ and listed again at the next start")
            }
            indexProblem = problem
        }
    }

    private static func loadIndex(_ path: String) -> [HistoryEntry]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode([HistoryEntry].self, from: data)
    }

    /// The index's entries whose PNG is in `files`, plus an entry for every PNG it does not list,
    /// in picture-number order (the order they were made).
    static func reconcile(index: [HistoryEntry], files: [String], directory: String) -> [HistoryEntry] {
        let present = Set(files)
        var seen = Set<String>()
        var kept = index.filter { present.contains($0.file) && seen.insert($0.file).inserted }
        // Only names of the server's own form come back (other PNGs put in the folder are not served).
        kept += files.filter { !seen.contains($0) && HistoryEntry.isPictureName($0) }
            .compactMap { HistoryEntry.recovered(file: $0, directory: directory) }
        return kept.enumerated().sorted {
            let a = HistoryEntry.number(ofFile: $0.element.file) ?? 0, b = HistoryEntry.number(ofFile: $1.element.file) ?? 0
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
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
