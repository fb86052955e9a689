import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Loopback sockets for tests that need a port: one listening (something else holds the port), or
/// a free one.
enum TestSockets {
    /// A socket listening on 127.0.0.1 at a free port; close `fd` when done.
    static func listening() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { close(fd); throw TestFailure("no loopback socket: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: a.sin_port)))
    }

    /// A port nobody listens on now.
    static func freePort() throws -> Int {
        let (fd, port) = try listening()
        close(fd)
        return port
    }
}
