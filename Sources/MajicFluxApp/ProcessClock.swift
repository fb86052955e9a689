#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Tensor

/// Seconds since this process started, for `generate`'s start-up time: the kernel's start time of
/// the process (`/proc/self/stat`, in clock ticks since boot, so loading the binary and its
/// libraries counts) against `CLOCK_BOOTTIME`; where that cannot be read (not Linux), since the
/// first use of `fallbackStart`.
enum ProcessClock {
    /// The moment of the first call: the start where `/proc` is not there.
    static let fallbackStart = ContinuousClock.now

    static func secondsSinceStart() -> Double {
        if let s = kernelSecondsSinceStart() { return s }
        return (ContinuousClock.now - fallbackStart).seconds
    }

    #if os(Linux)
    private static func kernelSecondsSinceStart() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm)" come the fields from the 3rd on; the start time is the 22nd.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        var now = timespec()
        guard hz > 0, clock_gettime(CLOCK_BOOTTIME, &now) == 0 else { return nil }
        let seconds = Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9 - ticks / hz
        return seconds >= 0 && seconds < 86_400 * 365 ? seconds : nil
    }
    #else
    private static func kernelSecondsSinceStart() -> Double? { nil }
    #endif
}
