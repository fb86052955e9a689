import Dispatch

/// Runs `body` over `0..<count` split into contiguous chunks across the CPU's cores.
/// Work smaller than `grain` items runs inline on the calling thread.
public enum Parallel {
    /// Number of worker threads used by CPU kernels (defaults to the active processor count).
    nonisolated(unsafe) public static var threadCount: Int = max(1, sysconfActiveProcessors())

    /// Calls `body(range)` for disjoint ranges covering `0..<count`.
    @inlinable
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = min(threadCount, max(1, count / max(grain, 1)))
        if workers <= 1 { body(0..<count); return }
        let chunk = (count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk, hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func sysconfActiveProcessors() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
#elseif canImport(Darwin)
import Darwin
@usableFromInline func sysconfActiveProcessors() -> Int { Int(sysconf(_SC_NPROCESSORS_ONLN)) }
#endif
