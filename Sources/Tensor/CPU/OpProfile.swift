#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall time spent in one CPU backend per op class, for profiling a model run (off by default; when
/// off each op pays one locked flag check). Only the outermost backend call is counted when ops nest.
/// Meant for a single calling thread (the model's): calls from several threads at once are counted
/// safely but their nesting is not told apart. Benchmarks turn it on with `reset()`.
// unchecked: `enabled`, `depth` and `totals` are only touched under `mutex` (PThreadMutex).
public final class OpProfile: @unchecked Sendable {
    private let mutex = PThreadMutex()
    private var enabled = false
    private var depth = 0
    private var totals: [String: (seconds: Double, calls: Int)] = [:]

    init() {}

    /// Clears the counters and turns profiling on.
    public func reset() {
        mutex.withLock {
            totals = [:]
            enabled = true
        }
    }

    /// Turns profiling off (the counters stay for `report`).
    public func stop() { mutex.withLock { enabled = false } }

    /// Whether ops are being timed.
    public var isEnabled: Bool { mutex.withLock { enabled } }

    @inline(__always) static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Starts timing one backend call (returns 0 when off or nested).
    @inline(__always) func start() -> Double {
        mutex.withLock {
            guard enabled else { return 0 }
            depth += 1
            return depth == 1 ? Self.now() : 0
        }
    }

    /// Ends the call begun with `start`.
    @inline(__always) func stop(_ name: @autoclosure () -> String, _ t0: Double) {
        mutex.withLock {
            guard enabled, depth > 0 else { return }
            defer { depth -= 1 }
            guard depth == 1 else { return }
            let key = name()
            let old = totals[key] ?? (0, 0)
            totals[key] = (old.seconds + Self.now() - t0, old.calls + 1)
        }
    }

    static func fmt(_ x: Double, _ digits: Int = 3) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let v = (x * p).rounded() / p
        return String(v)
    }

    /// The totals per op class, largest first, divided by `runs`.
    public func report(runs: Int = 1) -> String {
        let totals = mutex.withLock { self.totals }
        let sum = totals.values.reduce(0) { $0 + $1.seconds }
        let n = Double(Swift.max(runs, 1))
        var lines = ["op profile (per run, of \(runs)): total " + Self.fmt(sum / n) + " s in backend ops"]
        for (k, v) in totals.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            let share: Double = 100 * v.seconds / Swift.max(sum, 1e-12)
            let name = k.count < 22 ? k + String(repeating: " ", count: 22 - k.count) : k
            lines.append("  " + name + " " + Self.fmt(v.seconds / n) + " s  " + Self.fmt(share, 1) + " %  " + String(v.calls / Swift.max(runs, 1)) + " calls")
        }
        return lines.joined(separator: "\n")
    }
}
