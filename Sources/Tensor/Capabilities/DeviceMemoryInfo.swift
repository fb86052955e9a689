/// A backend with its own memory and a caching allocator: what a pipeline needs to plan a device
/// budget (`--vram-budget`) and to report each stage's peak. The CPU backend does not adopt it.
///
/// Adopted by `CUDABackend` (CUDA/CUDABackend.swift, CUDA/CUDABackend+Streaming.swift).
public protocol DeviceMemoryInfo: Backend {
    /// Device memory in use by the device's own count (other processes and the context included).
    var deviceUsedBytes: Int { get }
    /// Bytes the allocator holds from the device (live tensors and cached blocks).
    var reservedBytes: Int { get }
    /// Caps the bytes the allocator holds: past it, cached blocks go back before new ones are
    /// taken; nil for no cap.
    var allocatorLimit: Int? { get set }
    /// Returns every cached block to the device.
    func emptyCache()
    /// The device-counted peak since the last call (or since the backend was made), then starts a
    /// new window at the current use.
    func takeWindowPeakDeviceUsed() -> Int
    /// Peak device memory in use since the backend was made (or its last reset).
    var peakDeviceUsedBytes: Int { get }
}
