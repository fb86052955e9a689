import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tells a dead worker from a slow one at once, for workers that share an embedded store's folder:
/// every worker holds an exclusive `flock` on `<folder>/.majicflux-workers/<id>.lock` while it lives,
/// and the kernel drops the lock when its process ends, however it ends (`kill -9` included).
///
/// Without it a killed server's running job waited for its lease (30 s) after the restart, and
/// jobs queued after it could run first. A lock anyone can take means its worker is gone; one held
/// means alive (`flock` locks belong to the open file, so even a second open in the same process
/// finds it held). A worker with no lock file (an older version) is left to its lease. `flock`
/// works across processes and containers that share the folder on one machine, which is what one
/// SQLite file allows anyway.
final class WorkerLockFiles: @unchecked Sendable {
    let folder: String
    private let lock = NSLock()
    /// Worker id -> the open descriptor holding its lock.
    private var held: [String: Int32] = [:]
    /// Workers whose lock could not be taken: tried once (a worker registers again every few seconds).
    private var given: Set<String> = []

    init(directory: String) {
        folder = directory + "/.majicflux-workers"
    }

    /// Takes `workerID`'s lock (once; later calls do nothing). A lock that cannot be made is only
    /// logged: the worker is then judged by its lease alone, as before.
    func hold(_ workerID: String) {
        lock.withLock {
            guard held[workerID] == nil, given.insert(workerID).inserted else { return }
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let fd = open(path(workerID), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return Console.info("worker \(workerID): no lock file (\(String(cString: strerror(errno)))); its jobs rely on the lease") }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                return Console.info("worker \(workerID): its lock file is held by another process; its jobs rely on the lease")
            }
            held[workerID] = fd
        }
    }

    /// Lets `workerID`'s lock go and removes its file (a worker that stops cleanly).
    func release(_ workerID: String) {
        lock.withLock {
            given.remove(workerID)
            guard let fd = held.removeValue(forKey: workerID) else { return }
            unlink(path(workerID))
            close(fd)
        }
    }

    /// Lets every lock go (the store closes).
    func releaseAll() {
        for id in lock.withLock({ Array(held.keys) }) { release(id) }
    }

    /// Whether `workerID`'s process has ended: its lock file exists and nobody holds it. Such a file
    /// is removed. `false` for a live worker and for a worker without a file.
    func isDead(_ workerID: String) -> Bool {
        if lock.withLock({ held[workerID] != nil }) { return false }
        let p = path(workerID)
        let fd = open(p, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        unlink(p)  // removed while locked: a process that opened it before cannot take it either
        return true
    }

    /// The file of a worker id (ids hold host names: anything but letters, digits, `.`, `_` and `-`
    /// becomes `_`, and the length is bounded).
    func path(_ workerID: String) -> String {
        let safe = String(workerID.unicodeScalars.prefix(120).map { s -> Character in
            CharacterSet.alphanumerics.contains(s) && s.isASCII || s == "." || s == "_" || s == "-" ? Character(s) : "_"
        })
        return folder + "/" + (safe.hasPrefix(".") ? "_" + safe : safe) + ".lock"
    }
}
