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

    /// The PNG text chunk holding the id of the job that made the picture: a PNG found without its
    /// history row after a crash finishes that job (`SQLiteJobStore`).
    static let jobChunk = "majicflux-job"

    /// The picture number a file name starts with (`00012-1234.png` -> 12), if any.
    static func number(ofFile name: String) -> Int? { Int(name.prefix { $0.isASCII && $0.isNumber }.prefix(18)) }

    /// Whether a name has the form the server gives its pictures: digits, '-', digits, ".png".
    static func isPictureName(_ name: String) -> Bool {
        guard name.hasSuffix(".png") else { return false }
        let parts = name.dropLast(4).split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// The name of an input picture stored with picture `file`: `00012-1234-image.png`.
    static func inputFileName(_ file: String, role: String) -> String { String(file.dropLast(4)) + "-\(role).png" }

    /// The input pictures stored with this picture (only names of that form: an index edited by
    /// hand cannot make the server serve or delete other files).
    var inputFiles: [String] {
        (parameters.conditioning?.inputs ?? [:]).compactMap { role, input in
            input.file.flatMap { $0 == Self.inputFileName(file, role: role) && HistoryStore.isSafeName($0) ? $0 : nil }
        }
    }

    /// `00012-1234.png`: the number padded to five digits, then the seed.
    static func fileName(number: Int, seed: UInt64) -> String {
        let n = String(number)
        return String(repeating: "0", count: max(0, 5 - n.count)) + n + "-\(seed).png"
    }

    /// The entry of a PNG found in the output folder but not in the index (a picture written just
    /// before the server was killed, or an index restored from an older copy): its parameters from
    /// the `majicflux` text chunk, else from the A1111 `parameters` text; without either, a minimal
    /// entry (the size, the seed of the name).
    /// nil when the file is not a readable PNG.
    static func recovered(file name: String, directory: String) -> HistoryEntry? {
        let path = directory + "/" + name
        guard let (image, text) = try? PNG.read(path) else { return nil }
        let infotext = text.first { $0.key == "parameters" }?.value
        // Our request as JSON; else the A1111 parameters (a tool that kept only those), their
        // `<lora:...>` tags taken out of the prompt into the LoRAs.
        let parameters = text.first { $0.key == "majicflux" }
            .flatMap { try? JSONDecoder().decode(JobParameters.self, from: Data($0.value.utf8)) }
            ?? infotext.flatMap { Infotext.parameters($0, width: image.width, height: image.height) }
            ?? JobParameters(GenerationRequest(prompt: "", seed: UInt64(name.dropLast(4).split(separator: "-").last ?? "") ?? 0,
                                               steps: 0, width: image.width, height: image.height))
        let model = infotext.map { Infotext.parse($0).fields["Model"] ?? $0.components(separatedBy: "Model: ").last ?? "" } ?? ""
        let created = ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)?
            .timeIntervalSince1970 ?? 0
        let jobID = text.first { $0.key == jobChunk }?.value
        return HistoryEntry(id: jobID ?? String(name.dropLast(4)), file: name, url: "/images/" + name, created: created,
                            seconds: 0, model: model, parameters: parameters)
    }
}
