#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall time spent in the CPU backend per op class, for profiling a model run (off by default; when
/// off each op pays one flag check). Only the outermost backend call is counted when ops nest.
/// Meant for a single calling thread (the model's); benchmarks turn it on with `reset()`.
public enum OpProfile {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) static var depth = 0
    nonisolated(unsafe) static var totals: [String: (seconds: Double, calls: Int)] = [:]

    /// Clears the counters and turns profiling on.
    public static func reset() {
        totals = [:]
        enabled = true
    }

    @inline(__always) static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Starts timing one backend call (returns 0 when off or nested).
    @inline(__always) static func start() -> Double {
        guard enabled else { return 0 }
        depth += 1
        return depth == 1 ? now() : 0
    }

    /// Ends the call begun with `start`.
    @inline(__always) static func stop(_ name: @autoclosure () -> String, _ t0: Double) {
        guard enabled else { return }
        defer { depth -= 1 }
        guard depth == 1 else { return }
        let key = name()
        let old = totals[key] ?? (0, 0)
        totals[key] = (old.seconds + now() - t0, old.calls + 1)
    }

    static func fmt(_ x: Double, _ digits: Int = 3) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let v = (x * p).rounded() / p
        return String(v)
    }

    /// The totals per op class, largest first, divided by `runs`.
    public static func report(runs: Int = 1) -> String {
        let sum = totals.values.reduce(0) { $0 + $1.seconds }
        let n = Double(Swift.max(runs, 1))
        var lines = ["op profile (per run, of \(runs)): total " + fmt(sum / n) + " s in backend ops"]
        for (k, v) in totals.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            let share: Double = 100 * v.seconds / Swift.max(sum, 1e-12)
            let name = k.count < 22 ? k + String(repeating: " ", count: 22 - k.count) : k
            lines.append("  " + name + " " + fmt(v.seconds / n) + " s  " + fmt(share, 1) + " %  " + String(v.calls / Swift.max(runs, 1)) + " calls")
        }
        return lines.joined(separator: "\n")
    }
}
