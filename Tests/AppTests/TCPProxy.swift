import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP forwarder to `target` that a test can cut (`stop()`: every connection closed, new
/// ones refused) and restore (`start()` on the same port): a database server going away and coming
/// back, without touching the server other tests share.
final class TCPProxy: @unchecked Sendable {
    // unchecked: `listener` and `sockets` are only touched under `lock`.
    private let lock = NSLock()
    private let target: Int
    private(set) var port = 0
    private var listener: Int32 = -1
    private var sockets: Set<Int32> = []

    init(to targetPort: Int) throws {
        target = targetPort
        try start()
    }

    /// Listens (again) on `port` (a free one the first time) and forwards every connection.
    func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: port)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw TestFailure("proxy: cannot listen on port \(port): errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        lock.withLock {
            port = Int(UInt16(bigEndian: address.sin_port))
            listener = fd
        }
        Thread.detachNewThread { [self] in acceptLoop(fd) }
    }

    /// Closes the listener and every forwarded connection: the server is "down".
    func stop() {
        let (fd, open) = lock.withLock { () -> (Int32, Set<Int32>) in
            defer { listener = -1; sockets.removeAll() }
            return (listener, sockets)
        }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
        for s in open { shutdown(s, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            let alive = lock.withLock { () -> Bool in
                guard listener == fd, connected == 0 else { return false }
                sockets.formUnion([client, server])
                return true
            }
            guard alive else { close(client); close(server); continue }
            Thread.detachNewThread { Self.pump(client, server) }
            Thread.detachNewThread { Self.pump(server, client) }
        }
    }

    /// Copies bytes from `a` to `b` until either side ends, then ends both and closes `a` (the
    /// other direction's pump closes `b`).
    private static func pump(_ a: Int32, _ b: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(a, &buffer, buffer.count)
            guard n > 0, write(b, buffer, n) == n else { break }
        }
        shutdown(a, Int32(SHUT_RDWR))
        shutdown(b, Int32(SHUT_RDWR))
        close(a)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }
}
