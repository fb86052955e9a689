import Foundation
import Models
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The console's LoRA folder (`serve --lora-dir`): the `.safetensors` files directly in it, listed
/// from their headers alone (cheap: a directory listing, one stat per file, and a header read only for
/// files new or changed since the last look, by name + mtime + size), and loaded whole, once per file
/// version, when a job names them.
///
/// Jobs name a LoRA by its file name without `.safetensors`, never by a path: only names this listing
/// holds are loaded. Hidden files, names that would not survive A1111's `<lora:name:weight>` tag, and
/// links that lead out of the folder are left out (`LoRAListing.skipped` says why).
// unchecked: `headers`, `loaded` and `loadOrder` are only touched under `lock` (NSLock); the rest are `let`s.
final class LoRALibrary: @unchecked Sendable {
    /// nil: the server has no LoRA folder (every job's `loras` must then be empty).
    let directory: String?
    /// Most LoRAs, and most bytes of their f32 factors, kept loaded for later jobs (the least recently
    /// used go first; the newest always stays). A job holds its own LoRAs until it has run.
    let keepLoaded: Int
    let keepBytes: Int
    private let lock = NSLock()
    private var headers: [String: (stamp: FileStamp, result: Result<LoRAInfo, Skip>)] = [:]
    private var loaded: [String: (stamp: FileStamp, lora: LoRA)] = [:]
    private var loadOrder: [String] = []

    init(directory: String?, keepLoaded: Int = 16, keepBytes: Int = 2 << 30) {
        self.directory = directory
        self.keepLoaded = keepLoaded
        self.keepBytes = keepBytes
    }

    /// What identifies one version of a file: a rewritten or replaced file gets read again.
    struct FileStamp: Equatable {
        var device: UInt64, inode: UInt64, size: Int, mtimeSeconds: Int, mtimeNanoseconds: Int
    }

    /// A file of the folder that is not listed, and why.
    struct Skip: Error, Codable, Sendable, Equatable {
        var file: String
        var reason: String
    }

    /// A listed file: its name, where it is read from, its version.
    struct Entry {
        var name: String
        var path: String
        var stamp: FileStamp
    }

    static let suffix = ".safetensors"

    // MARK: Listing

    /// `GET /api/loras`.
    func list() -> LoRAListing {
        let (entries, skipped, problem) = scan()
        var infos: [LoRAInfo] = []
        var unreadable = skipped
        for entry in entries {
            switch header(entry) {
            case .success(let info): infos.append(info)
            case .failure(let skip): unreadable.append(skip)
            }
        }
        return LoRAListing(directory: directory, loras: infos, skipped: unreadable, problem: problem)
    }

    /// The folder's usable files by name (sorted), the ones left out, and why the folder itself cannot
    /// be read when it cannot.
    func scan() -> (entries: [Entry], skipped: [Skip], problem: String?) {
        guard let directory else { return ([], [], nil) }
        guard let root = Self.realPath(directory) else {
            return ([], [], "the LoRA folder \(directory) cannot be read (\(String(cString: strerror(errno))))")
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted() } catch {
            return ([], [], "the LoRA folder \(directory) cannot be read (\(error.localizedDescription))")
        }
        var entries: [Entry] = [], skipped: [Skip] = []
        for file in names where file.hasSuffix(Self.suffix) && !file.hasPrefix(".") {
            let name = String(file.dropLast(Self.suffix.count))
            let path = directory + "/" + file
            if let problem = Self.nameProblem(name) {
                skipped.append(Skip(file: file, reason: problem))
                continue
            }
            var link = stat()
            guard lstat(path, &link) == 0 else { continue }  // gone since the listing
            if (link.st_mode & S_IFMT) == S_IFLNK {
                // A link is followed only when it stays inside the folder.
                guard let target = Self.realPath(path), target.hasPrefix(root == "/" ? "/" : root + "/") else {
                    skipped.append(Skip(file: file, reason: "a link that leads outside the LoRA folder (or nowhere)"))
                    continue
                }
            }
            var s = stat()
            guard stat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG else {
                skipped.append(Skip(file: file, reason: "not a regular file"))
                continue
            }
            entries.append(Entry(name: name, path: path, stamp: FileStamp(s)))
        }
        return (entries, skipped, problem: nil)
    }

    /// The listing's facts from the file's header, read once per file version.
    private func header(_ entry: Entry) -> Result<LoRAInfo, Skip> {
        if let cached = lock.withLock({ headers[entry.name] }), cached.stamp == entry.stamp { return cached.result }
        let result = Self.readHeader(entry)
        lock.withLock { headers[entry.name] = (entry.stamp, result) }
        return result
    }

    static func readHeader(_ entry: Entry) -> Result<LoRAInfo, Skip> {
        let file = entry.name + suffix
        let st: SafeTensorsFile
        do { st = try SafeTensorsFile(path: entry.path) } catch {
            return .failure(Skip(file: file, reason: "not a readable safetensors file: \(error)"))
        }
        // The rank: the largest first dimension of a LoRA down factor (every format's down suffixes).
        let downs = [".lora_down.weight", ".lora_A.weight", ".lora_A.default.weight", ".down.weight"]
        let rank = st.tensorInfos.filter { info in info.shape.count == 2 && downs.contains { info.name.hasSuffix($0) } }
            .map { $0.shape[0] }.max() ?? 0
        guard rank > 0 else {
            return .failure(Skip(file: file, reason: "holds no LoRA weights (lora_down/lora_up, lora_A/lora_B or down/up matrices)"))
        }
        let m = st.metadata
        return .success(LoRAInfo(name: entry.name, title: LoRA.title(metadata: m, name: entry.name),
                                 trigger_words: LoRA.triggerWords(metadata: m), rank: rank, size: entry.stamp.size))
    }

    // MARK: Loading

    /// The LoRA called `name`, read whole (once per file version; kept for later jobs). Throws
    /// `LoRAChoiceError`: `unknown` when the folder has no file of that name, `unusable` (with the
    /// listing's reason) when it has one the listing leaves out or that is no LoRA we can apply.
    func load(_ name: String) throws -> LoRA {
        let (scanned, skipped, problem) = scan()
        let entries = scanned.filter { (try? header($0).get()) != nil }  // files the listing shows
        guard let entry = entries.first(where: { $0.name == name }) else {
            if let problem { throw LoRAChoiceError.unknown(name: name, why: problem) }
            // A file of that name the listing leaves out (unreadable, no LoRA weights, a link out of
            // the folder): its reason, as GET /api/loras gives it, rather than "no LoRA named".
            let file = name + Self.suffix
            if let skip = skipped.first(where: { $0.file == file }) { throw LoRAChoiceError.unusable(name: name, why: skip.reason) }
            if let e = scanned.first(where: { $0.name == name }), case .failure(let skip) = header(e) {
                throw LoRAChoiceError.unusable(name: name, why: skip.reason)
            }
            if directory == nil { throw LoRAChoiceError.unknown(name: name, why: "this server has no LoRA folder (start it with --lora-dir DIR)") }
            let listed = entries.map(\.name)
            let some = listed.prefix(10).map { "\"\($0)\"" }.joined(separator: ", ")
            throw LoRAChoiceError.unknown(name: name, why: listed.isEmpty ? "the LoRA folder is empty"
                                          : "the LoRA folder has \(some)\(listed.count > 10 ? ", ..." : "") (GET /api/loras lists them)")
        }
        if let hit = lock.withLock({ () -> LoRA? in
            guard let c = loaded[name], c.stamp == entry.stamp else { return nil }
            loadOrder.removeAll { $0 == name }
            loadOrder.append(name)
            return c.lora
        }) { return hit }
        let lora: LoRA
        do { lora = try LoRA(contentsOf: entry.path) } catch {
            throw LoRAChoiceError.unusable(name: name, why: "\(error)")
        }
        // Its `Lora hashes:` SHA-256 (~0.8 s for a 150 MB file) runs in the background from here: the
        // job starts now and the picture's save waits for the hash only if the steps were faster.
        lock.withLock {
            loaded[name] = (entry.stamp, lora)
            loadOrder.removeAll { $0 == name }
            loadOrder.append(name)
            func bytes() -> Int { loaded.values.reduce(0) { $0 + $1.lora.patches.reduce(0) { $0 + 4 * ($1.down.count + $1.up.count) } } }
            while loadOrder.count > 1 && (loadOrder.count > keepLoaded || bytes() > keepBytes) { loaded[loadOrder.removeFirst()] = nil }
        }
        return lora
    }

    /// `load` for each choice, off the caller's thread (a large LoRA takes a moment to read and hash).
    func uses(_ choices: [JobLoRA]) async throws -> [LoRAUse] {
        if choices.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[LoRAUse], any Error>) in
            DispatchQueue.global(qos: .userInitiated).async {
                c.resume(with: Result {
                    try choices.enumerated().map { i, choice in
                        do { return LoRAUse(try self.load(choice.name), weight: choice.weight) } catch let e as LoRAChoiceError {
                            throw APIError.badRequest("loras[\(i)].name: \(e)")
                        }
                    }
                })
            }
        }
    }

    // MARK: Names

    /// Why a file name (without `.safetensors`) cannot name a LoRA here, or nil when it can: it must
    /// survive `<lora:name:weight>` in the PNG's parameters and never reach outside the folder.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an empty name" }
        if name.utf8.count > 200 { return "a name longer than 200 bytes" }
        if name.hasPrefix(".") || name.contains("..") { return "a name that starts with '.' or holds '..'" }
        if let bad = name.unicodeScalars.first(where: { "/\\:<>".unicodeScalars.contains($0) || $0.properties.generalCategory == .control }) {
            let shown = bad.properties.generalCategory == .control ? String(format: "U+%04X", bad.value) : "'\(bad)'"
            return "a name holding \(shown), which A1111's <lora:name:weight> tag or a path cannot carry"
        }
        return nil
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

extension LoRALibrary.FileStamp {
    init(_ s: stat) {
        #if canImport(Darwin)
        let m = s.st_mtimespec
        #else
        let m = s.st_mtim
        #endif
        self.init(device: UInt64(s.st_dev), inode: UInt64(s.st_ino), size: Int(s.st_size), mtimeSeconds: Int(m.tv_sec), mtimeNanoseconds: Int(m.tv_nsec))
    }
}

/// A job names a LoRA the folder does not hold, or one that cannot be applied.
enum LoRAChoiceError: Error, CustomStringConvertible {
    case unknown(name: String, why: String)
    case unusable(name: String, why: String)

    var description: String {
        switch self {
        case .unknown(let name, let why): return "no LoRA named \"\(name.prefix(80))\": \(why)"
        case .unusable(let name, let why): return "the LoRA \"\(name)\" cannot be used: \(why)"
        }
    }
}

/// One LoRA file as `GET /api/loras` lists it.
struct LoRAInfo: Codable, Sendable, Equatable {
    /// The file name without `.safetensors`: what a job's `loras[].name` gives and `<lora:name:weight>` writes.
    var name: String
    /// `modelspec.title` or `ss_output_name` from its metadata, else the name.
    var title: String
    /// From its metadata (`modelspec.trigger_phrase`, or kohya's most frequent tags); may be empty.
    var trigger_words: [String]
    /// The largest rank of its updates.
    var rank: Int
    /// File size in bytes.
    var size: Int
}

/// `GET /api/loras`.
struct LoRAListing: Codable, Sendable {
    /// The LoRA folder; null when the server has none.
    var directory: String?
    /// By name.
    var loras: [LoRAInfo]
    /// `.safetensors` files of the folder that are not offered, and why.
    var skipped: [LoRALibrary.Skip]
    /// Why the folder cannot be read, when it cannot.
    var problem: String?

    private enum CodingKeys: String, CodingKey { case directory, loras, skipped, problem }

    /// `directory` and `problem` are always present (null when unset), as docs/API.md shows.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(directory, forKey: .directory)
        try c.encode(loras, forKey: .loras)
        try c.encode(skipped, forKey: .skipped)
        try c.encode(problem, forKey: .problem)
    }
}
