import Dispatch

/// Runs `body` over `0..<count` split into contiguous chunks across a fixed number of worker threads.
/// Work smaller than `grain` items runs inline on the calling thread.
///
/// A value, not a global: each CPU backend holds one built from its `Configuration.threads`, and
/// code outside a backend (quantization) uses `CPUBackend.shared.parallel`.
public struct Parallel: Sendable {
    /// Number of worker threads (at least 1).
    public let threadCount: Int

    /// Workers for `threadCount` threads (values below 1 mean 1).
    public init(threadCount: Int) { self.threadCount = Swift.max(1, threadCount) }

    /// The active processor count (the default thread count).
    public static let processorCount = Swift.max(1, sysconfActiveProcessors())

    /// Calls `body(range)` for disjoint ranges covering `0..<count`.
    @inlinable
    public func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = Swift.min(threadCount, Swift.max(1, count / Swift.max(grain, 1)))
        if workers <= 1 { body(0..<count); return }
        let chunk = (count + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * chunk, hi = Swift.min(count, lo + chunk)
                if lo < hi { shared.value(lo..<hi) }
            }
        }
    }
}

/// A value handed to worker threads that the compiler cannot prove safe to share.
// unchecked: only wraps a kernel body that `concurrentPerform` calls on disjoint ranges/items and that does not outlive the call.
@usableFromInline struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func sysconfActiveProcessors() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
#elseif canImport(Darwin)
import Darwin
@usableFromInline func sysconfActiveProcessors() -> Int { Int(sysconf(_SC_NPROCESSORS_ONLN)) }
#endif
