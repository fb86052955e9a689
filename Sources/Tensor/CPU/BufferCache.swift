#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reuses large freed CPU buffers instead of returning them to the system.
///
/// glibc serves allocations above 32 MB with a fresh `mmap` and gives them back with `munmap` on
/// free, so every large activation (a VAE feature map at 512x512 x 128 channels is 128 MB) pays a page
/// fault and a kernel zero-fill per 4 KB page, on every op. Models allocate the same few sizes over and
/// over, so buffers of at least `minimumBytes` are kept on free (up to `limitBytes` in total) and
/// handed out again for an allocation of the same rounded size. On a miss, cached buffers are freed
/// first until the new one fits under the limit, so the cache never holds more than `limitBytes`
/// beyond what is in use. Large buffers are also advised as transparent huge pages (Linux), which
/// cuts the page faults of a fresh buffer 512-fold and the TLB misses of the GEMMs reading it.
// unchecked: `free` and `cachedBytes` are only touched under the pthread `mutex`; `limitBytes` is a `let`.
final class BufferCache: @unchecked Sendable {
    /// Buffers below this size go straight to malloc/free.
    static let minimumBytes = 1 << 20
    /// Sizes are rounded up to this granularity, so near-equal requests share buffers.
    static let granularity = 1 << 16

    /// Most bytes kept while not in use (the backend's `Configuration.bufferCacheLimitBytes`).
    let limitBytes: Int

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0

    init(limitBytes: Int) {
        self.limitBytes = limitBytes
        pthread_mutex_init(mutex, nil)
    }

    /// Size class of a request of `byteCount` bytes (0 for small ones that are not cached).
    static func roundedSize(_ byteCount: Int) -> Int {
        byteCount < minimumBytes ? 0 : (byteCount + granularity - 1) / granularity * granularity
    }

    /// A buffer of at least `rounded` bytes (`rounded` from `roundedSize`, non-zero).
    func take(_ rounded: Int) -> UnsafeMutableRawPointer {
        pthread_mutex_lock(mutex)
        if var list = free[rounded], let p = list.popLast() {
            free[rounded] = list.isEmpty ? nil : list
            cachedBytes -= rounded
            pthread_mutex_unlock(mutex)
            return p
        }
        // Miss: make room so that cached + new stays under the limit.
        var victims: [UnsafeMutableRawPointer] = []
        while cachedBytes > 0 && cachedBytes + rounded > limitBytes,
              let size = free.keys.max() {
            var list = free[size]!
            victims.append(list.removeLast())
            free[size] = list.isEmpty ? nil : list
            cachedBytes -= size
        }
        pthread_mutex_unlock(mutex)
        victims.forEach { Glibc_free($0) }
        var p: UnsafeMutableRawPointer?
        let rc = posix_memalign(&p, 2 << 20, rounded)
        precondition(rc == 0 && p != nil, "out of memory allocating \(rounded) bytes")
        #if os(Linux)
        _ = madvise(p, rounded, Int32(MADV_HUGEPAGE))
        #endif
        return p!
    }

    /// Returns a buffer from `take` to the cache (or to the system when the cache is full).
    func give(_ p: UnsafeMutableRawPointer, rounded: Int) {
        pthread_mutex_lock(mutex)
        if cachedBytes + rounded <= limitBytes {
            free[rounded, default: []].append(p)
            cachedBytes += rounded
            pthread_mutex_unlock(mutex)
            return
        }
        pthread_mutex_unlock(mutex)
        Glibc_free(p)
    }

    /// Frees every cached buffer (e.g. between pipeline stages).
    func drain() {
        pthread_mutex_lock(mutex)
        let all = free.values.flatMap { $0 }
        free = [:]
        cachedBytes = 0
        pthread_mutex_unlock(mutex)
        all.forEach { Glibc_free($0) }
    }
}

@inline(__always) private func Glibc_free(_ p: UnsafeMutableRawPointer) {
    #if canImport(Glibc)
    Glibc.free(p)
    #else
    Darwin.free(p)
    #endif
}
