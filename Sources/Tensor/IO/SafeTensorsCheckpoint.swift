#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One name -> tensor view over a checkpoint stored as a single safetensors file or as shards.
///
/// `init(path:)` accepts
/// - a `.safetensors` file;
/// - a `*.safetensors.index.json` index (`{"metadata": {...}, "weight_map": {name: shard file}}`,
///   shard files relative to the index's folder);
/// - a folder holding exactly one index, or (with no index) exactly one `.safetensors` file.
///
/// Shards are mapped lazily, on the first access to one of their tensors; opening checks only that
/// every shard file exists. Tensors are zero-copy views as described for `SafeTensorsFile`.
/// Thread-safe.
// unchecked: `shards` (opened lazily) is only touched in init or under `lock` (ShardLock); every other field is a `let`.
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    /// The index file, or the single safetensors file.
    public let path: String
    /// True when the checkpoint came from an index file.
    public var isSharded: Bool { indexPath != nil }
    /// The index file, if any.
    public let indexPath: String?
    /// The shard files (one for a single-file checkpoint), in first-use order of the weight map.
    public let shardPaths: [String]
    /// All tensor names: file order for a single file, sorted for an index.
    public let names: [String]
    /// The index's `metadata` object, or the single file's `__metadata__` as strings.
    public let metadata: [String: JSONValue]

    private let shardOfName: [String: Int]
    private var shards: [SafeTensorsFile?]
    private let lock = ShardLock()

    /// Opens a file, an index or a folder (see the type's notes). Throws `TensorError.io` when a path
    /// or a shard file is missing or a folder is ambiguous, and `TensorError.corrupt` for a malformed
    /// index or safetensors header.
    public init(path: String) throws {
        var target = path
        if SafeTensorsCheckpoint.isDirectory(path) { target = try SafeTensorsCheckpoint.pickFile(in: path) }
        guard target.hasSuffix(".index.json") else {
            let file = try SafeTensorsFile(path: target)
            self.path = target
            indexPath = nil
            shardPaths = [target]
            names = file.names
            metadata = file.metadata.mapValues { .string($0) }
            shardOfName = Dictionary(uniqueKeysWithValues: file.names.map { ($0, 0) })
            shards = [file]
            return
        }
        let index = try SafeTensorsCheckpoint.readIndex(target)
        let folder = SafeTensorsCheckpoint.directory(of: target)
        var shardPaths: [String] = []
        var shardNumber: [String: Int] = [:]
        var shardOfName: [String: Int] = [:]
        for name in index.weightMap.keys.sorted() {
            let file = index.weightMap[name]!
            if shardNumber[file] == nil {
                let shardPath = folder + file
                guard access(shardPath, F_OK) == 0 else {
                    throw TensorError.io(path: shardPath, reason: "shard file listed in \(target) does not exist")
                }
                shardNumber[file] = shardPaths.count
                shardPaths.append(shardPath)
            }
            shardOfName[name] = shardNumber[file]!
        }
        self.path = target
        indexPath = target
        self.shardPaths = shardPaths
        names = index.weightMap.keys.sorted()
        metadata = index.metadata
        self.shardOfName = shardOfName
        shards = Array(repeating: nil, count: shardPaths.count)
    }

    /// True when the checkpoint lists a tensor called `name`.
    public func contains(_ name: String) -> Bool { shardOfName[name] != nil }

    /// The shard file holding `name` (opened on first use).
    public func file(containing name: String) throws -> SafeTensorsFile {
        guard let i = shardOfName[name] else { throw TensorError.missingTensor(name: name, path: path) }
        let file = try shard(i)
        guard file.contains(name) else {
            throw TensorError.corrupt(path: path, reason: "weight_map puts tensor '\(name)' in \(file.path), which has no such tensor")
        }
        return file
    }

    /// The header entry of `name`.
    public func info(named name: String) throws -> SafeTensorsTensorInfo {
        try file(containing: name).info(named: name)
    }

    /// The tensor `name` as stored (a zero-copy view when aligned; see `SafeTensorsFile`).
    public func tensor(named name: String) throws -> Tensor {
        try file(containing: name).tensor(named: name)
    }

    /// The tensor `name` converted to `dtype`.
    public func tensor(named name: String, as dtype: DType) throws -> Tensor {
        try file(containing: name).tensor(named: name, as: dtype)
    }

    /// Shard `i` of `shardPaths`, mapping it on first use.
    public func shard(_ i: Int) throws -> SafeTensorsFile {
        try lock.locked {
            if let f = shards[i] { return f }
            let f = try SafeTensorsFile(path: shardPaths[i])
            shards[i] = f
            return f
        }
    }

    /// Opens every shard and checks that each listed name is present in its shard. Throws the first
    /// problem found.
    public func verify() throws {
        for name in names { _ = try file(containing: name) }
    }

    // MARK: - Opening

    private struct Index {
        var weightMap: [String: String]
        var metadata: [String: JSONValue]
    }

    private static func readIndex(_ path: String) throws -> Index {
        let mapping = try MappedFile(path: path)
        let root: JSONValue
        do {
            // The mapping must outlive the parse: `bytes` does not keep it alive.
            root = try withExtendedLifetime(mapping) { try JSONValue.parse(mapping.bytes) }
        } catch let e as JSONParseError {
            throw TensorError.corrupt(path: path, reason: "index is not valid JSON: \(e)")
        }
        guard let top = root.object else { throw TensorError.corrupt(path: path, reason: "index is not a JSON object") }
        guard let map = top["weight_map"]?.object else {
            throw TensorError.corrupt(path: path, reason: "weight_map is missing or not an object")
        }
        var weightMap: [String: String] = [:]
        for (name, value) in map.sorted(by: { $0.key < $1.key }) {
            guard let file = value.string, !file.isEmpty, !file.hasPrefix("/") else {
                throw TensorError.corrupt(path: path, reason: "weight_map entry '\(name)' is not a relative file name")
            }
            weightMap[name] = file
        }
        var metadata: [String: JSONValue] = [:]
        if let m = top["metadata"], !m.isNull {
            guard let o = m.object else { throw TensorError.corrupt(path: path, reason: "metadata is not an object") }
            metadata = o
        }
        return Index(weightMap: weightMap, metadata: metadata)
    }

    /// The index in `folder`, or its only `.safetensors` file.
    private static func pickFile(in folder: String) throws -> String {
        let entries = try listDirectory(folder).sorted()
        let indexes = entries.filter { $0.hasSuffix(".safetensors.index.json") }
        let files = entries.filter { $0.hasSuffix(".safetensors") }
        let dir = folder.hasSuffix("/") ? folder : folder + "/"
        if indexes.count == 1 { return dir + indexes[0] }
        if indexes.count > 1 {
            throw TensorError.io(path: folder, reason: "folder holds several indexes (\(indexes.joined(separator: ", "))); open one of them")
        }
        if files.count == 1 { return dir + files[0] }
        if files.isEmpty { throw TensorError.io(path: folder, reason: "folder holds no .safetensors file or index") }
        throw TensorError.io(path: folder, reason: "folder holds several .safetensors files and no index (\(files.joined(separator: ", "))); open one of them")
    }

    private static func listDirectory(_ folder: String) throws -> [String] {
        guard let dir = opendir(folder) else {
            throw TensorError.io(path: folder, reason: "cannot list folder: \(MappedFile.errnoText())")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The folder part of `path` with a trailing slash ("" for a bare file name).
    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[...slash])
    }
}

/// A pthread mutex (FoundationEssentials has no lock type; `Synchronization.Mutex` needs macOS 15).
// unchecked: the pthread mutex is the synchronisation itself; allocated at init, never reassigned.
private final class ShardLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
