/// A value guarded by a mutex: the one lock box of the package (tokenizer caches, backend settings,
/// kept scales, ...), usable from any thread.
// unchecked: `value` is only reached through `withLock`, under `mutex` (PThreadMutex).
public final class Locked<Value>: @unchecked Sendable {
    private let mutex = PThreadMutex()
    private var value: Value

    /// A box holding `value`.
    public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&value) }
    }
}
