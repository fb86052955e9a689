#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deletes one file when the process is stopped by SIGINT, SIGTERM or SIGHUP, then lets the signal
/// take its usual effect: a long write interrupted with Ctrl-C or `kill` leaves no temporary file
/// behind (e.g. `majicflux quantize`'s `<out>.partial-<pid>`).
///
/// The handler runs in signal context, so it only calls async-signal-safe functions (`unlink`,
/// `signal`, `raise`) on a path kept in a C buffer allocated up front. One file at a time; meant
/// for command-line tools, not for processes that handle these signals themselves (a server).
public enum SignalCleanup {
    /// Longest path kept (PATH_MAX on Linux, including the terminating zero).
    static let capacity = 4096
    /// The path, as a C string; allocated once, never freed.
    // unchecked: written only while `armed` is 0 (by the one thread that arms it) and read by the handler.
    nonisolated(unsafe) static let buffer: UnsafeMutablePointer<CChar> = {
        let b = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        b.initialize(repeating: 0, count: capacity)
        return b
    }()
    /// Non-zero while `buffer` holds a path to delete.
    // unchecked: a sig_atomic_t flag shared with the signal handler; set only by `removeOnSignal`/`disarm`, from a tool's one main flow.
    nonisolated(unsafe) static var armed: sig_atomic_t = 0
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// From now until `disarm()`, one of the signals deletes `path` before the process ends. Throws
    /// `TensorError.invalidArgument` for a path longer than PATH_MAX.
    public static func removeOnSignal(_ path: String) throws {
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else { throw TensorError.invalidArgument("path too long to clean up on a signal: \(path)") }
        armed = 0  // the handler must not see a half-copied path
        for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
        buffer[bytes.count] = 0
        armed = 1
        for s in signals { signal(s, handler) }
    }

    /// Stops deleting the file on a signal (it was renamed into place or removed) and restores the
    /// signals' default actions.
    public static func disarm() {
        armed = 0
        for s in signals { signal(s, SIG_DFL) }
    }

    private static let handler: @convention(c) (Int32) -> Void = { sig in
        if SignalCleanup.armed != 0 { unlink(SignalCleanup.buffer) }
        signal(sig, SIG_DFL)
        raise(sig)
    }
}
