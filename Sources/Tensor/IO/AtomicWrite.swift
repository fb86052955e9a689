#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `write(2)`, reachable from inside a type that has its own `write` method.
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// Writing a small file whole: to `<path>.partial-<pid>`, then renamed into place, so readers never
/// see half a file. Errors are `TensorError.io` naming the path with the system's reason in words
/// (not a Foundation error dump).
enum AtomicWrite {
    static func write(_ bytes: [UInt8], to path: String) throws {
        try OutputPath.check(path)
        let temporary = "\(path).partial-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TensorError.io(path: path, reason: "cannot create \(temporary): \(MappedFile.errnoText())") }
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = "write failed: \(MappedFile.errnoText())"; return }
                done += n
            }
        }
        if failure == nil && close(fd) != 0 { failure = "close failed: \(MappedFile.errnoText())" }
        else if failure != nil { close(fd) }
        if failure == nil && rename(temporary, path) != 0 { failure = "cannot rename \(temporary) into place: \(MappedFile.errnoText())" }
        if let failure {
            unlink(temporary)
            throw TensorError.io(path: path, reason: failure)
        }
    }
}
