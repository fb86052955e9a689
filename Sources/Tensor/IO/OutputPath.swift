#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks on a file about to be written, made before any long work so that a bad destination is
/// reported at once rather than after a conversion or a generation.
public enum OutputPath {
    /// Throws `TensorError.io` naming `path` when it cannot become the output file: it is a folder or
    /// another non-regular file, its folder is missing or not writable, or it is (by name, through a
    /// link, or as the same inode) one of `inputs` or an existing file inside an input that is a folder
    /// (a model folder), which writing it would destroy.
    public static func check(_ path: String, notSameAs inputs: [String] = []) throws {
        func fail(_ reason: String) -> TensorError { .io(path: path, reason: reason) }
        guard !path.isEmpty else { throw fail("the output path is empty") }
        var st = stat()
        let exists = stat(path, &st) == 0
        if exists {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw fail("is a folder; give a file name inside it")
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw fail("exists and is not a regular file (\(MappedFile.fileKind(st.st_mode)))")
            }
            let resolved = realPath(path)
            for input in inputs {
                var other = stat()
                let sameInode = stat(input, &other) == 0 && other.st_dev == st.st_dev && other.st_ino == st.st_ino
                if sameInode || (resolved != nil && resolved == realPath(input)) {
                    throw fail("is the input file \(input); writing it would destroy the input. Choose another output path")
                }
                if (other.st_mode & S_IFMT) == S_IFDIR, let resolved, let folder = realPath(input),
                   resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") {
                    throw fail("is a file inside the input folder \(input); writing it would destroy what is read from there. Choose another output path")
                }
            }
        }
        let folder = parentFolder(path)
        var dir = stat()
        guard stat(folder, &dir) == 0 else { throw fail("its folder \(folder) does not exist") }
        guard (dir.st_mode & S_IFMT) == S_IFDIR else { throw fail("\(folder) is not a folder") }
        // The file is written under a temporary name in the folder and renamed into place.
        guard access(folder, W_OK | X_OK) == 0 else {
            throw fail("cannot write in its folder \(folder): \(MappedFile.errnoText())")
        }
        // access() says yes where creating a file still fails (/proc, /sys, some network mounts):
        // create and delete the kind of file the write makes, so that shows now, not after the work.
        let probe = (folder == "/" ? "" : folder) + "/.majicflux-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw fail("cannot create a file in its folder \(folder): \(MappedFile.errnoText())") }
        close(fd)
        unlink(probe)
    }

    /// The folder part of `path` ("." for a bare name, "/" for a file at the root).
    static func parentFolder(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    /// The canonical absolute path of an existing file; nil when it cannot be resolved.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
