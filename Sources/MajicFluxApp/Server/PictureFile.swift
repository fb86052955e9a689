import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing a picture into the output folder without ever replacing a file already there.
enum PictureFile {
    /// Prefix of the hidden files a picture is written into before it takes its name.
    static let partialPrefix = ".partial-"

    /// Writes `bytes` as `directory/name` only if that name is free; false when it is taken.
    /// The bytes go to a hidden file first, which is then hard-linked to `name` (link(2) refuses an
    /// existing name), so the picture appears whole or not at all and nothing is overwritten.
    static func create(_ bytes: [UInt8], name: String, in directory: String) throws -> Bool {
        let path = directory + "/" + name
        let partial = directory + "/" + partialPrefix + name
        try writeFile(bytes, to: partial, exclusive: false)
        defer { unlink(partial) }
        if link(partial, path) == 0 {
            syncDirectory(directory)
            return true
        }
        let linkError = errno
        if linkError == EEXIST { return false }
        // A file system without hard links: create the name exclusively and write into it.
        do { try writeFile(bytes, to: path, exclusive: true) } catch let e as POSIXError where e.code == .EEXIST { return false }
        return true
    }

    /// Makes a new name in `directory` durable.
    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Removes hidden partial files left by a server killed while writing.
    static func removePartials(in directory: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(partialPrefix) {
            unlink(directory + "/" + name)
        }
    }

    private static func writeFile(_ bytes: [UInt8], to path: String, exclusive: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC), 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var done = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        let code = errno
        // On disk before it takes its name (and before the job store's row says it exists).
        if ok { fsync(fd) }
        close(fd)
        if !ok {
            unlink(path)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }
}
