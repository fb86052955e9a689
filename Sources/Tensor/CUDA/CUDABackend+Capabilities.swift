/// CUDA's optional capabilities (Capabilities/): the methods themselves live with the code they
/// drive (fp8 GEMMs in CUDABackend+FP8.swift, memory counters in CUDABackend.swift and
/// CUDABackend+Streaming.swift; `AsyncUploading` in CUDABackend+Streaming.swift).
extension CUDABackend: FP8GEMM {}
extension CUDABackend: DeviceMemoryInfo {}
extension CUDABackend: FusedGEMMEpilogue {}
extension CUDABackend: WeightDTypePreferring {
    public var weightDType: DType { computeDType }
}
