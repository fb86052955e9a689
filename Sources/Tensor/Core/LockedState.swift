/// A value guarded by a mutex.
// unchecked: `value` is only reached through `withLock`, under `mutex` (PThreadMutex).
final class LockedState<Value>: @unchecked Sendable {
    private let mutex = PThreadMutex()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&value) }
    }
}
