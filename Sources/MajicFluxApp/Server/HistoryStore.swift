import Foundation
import Models
import Tensor

/// The output folder's pictures: one PNG per picture, its parameters in its text chunks. The PNGs
/// are the truth and the job store's history rows a record of them (`SQLiteJobStore` reconciles the
/// two at start: unlisted PNGs are added back from their chunks, rows whose PNG is gone are dropped).
enum HistoryStore {
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
