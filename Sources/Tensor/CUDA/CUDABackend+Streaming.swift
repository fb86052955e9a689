/// Copies on a second stream, for streaming weights while kernels run (`AsyncUploading`).
///
/// Kernels run on `stream`; uploads run on `copyStream` (non-blocking). Events order the two: the
/// copy into a buffer waits for the compute event recorded after the buffer's last reader, and the
/// compute stream waits for the copy's event before its first reader.
extension CUDABackend: AsyncUploading {
    /// Page-locked host memory (`cuMemAllocHost`) wrapped as a CPU storage: the CPU reads and writes
    /// it like any buffer, and copies from it to the GPU run at the link's full speed without staging.
    public func hostBuffer(byteCount: Int) throws -> Storage {
        var p: UnsafeMutableRawPointer?
        let rc = driver.cuMemAllocHost(&p, Swift.max(byteCount, 1))
        guard rc == 0, let p else {
            throw CUDAError.driver("cuMemAllocHost of \(byteCount) bytes (page-locked host memory for streamed weights)", rc)
        }
        // The release may run on any thread: it binds the context through `bound`.
        let bound = self.bound
        return Storage(pointer: p, byteCount: byteCount, backend: CPUBackend.shared,
                       release: { _ = bound.api.cuMemFreeHost($0) })
    }

    public func allocatePersistent(byteCount: Int) throws -> Storage {
        let bytes = Swift.max(byteCount, 1)
        guard let p = allocator.allocateExact(bytes) else {
            throw CUDAError.driver("cuMemAlloc of \(bytes) bytes for streamed weights (\(allocator.withCounters { $0.reserved }) bytes already held)", 2)
        }
        return Storage(pointer: UnsafeMutableRawPointer(bitPattern: UInt(p))!, byteCount: byteCount, backend: self,
                       release: { [allocator] ptr in allocator.freeExact(UInt64(UInt(bitPattern: ptr)), bytes) })
    }

    public func makeFence() -> QueueFence {
        var e: UnsafeMutableRawPointer?
        // CU_EVENT_DISABLE_TIMING (2): cheaper to record and wait on.
        must(driver.cuEventCreate(&e, 2), "cuEventCreate")
        return QueueFence(handle: e, destroy: { [bound] in _ = bound.api.cuEventDestroy($0) })
    }

    public func recordCompute(_ fence: QueueFence) {
        if breaksCapture("records a fence") { return }
        must(driver.cuEventRecord(fence.handle, stream), "cuEventRecord")
    }

    public func computeWait(_ fence: QueueFence) {
        if breaksCapture("waits for a copy") { return }
        must(driver.cuStreamWaitEvent(stream, fence.handle, 0), "cuStreamWaitEvent")
    }

    public func hostWait(_ fence: QueueFence) {
        if breaksCapture("waits for a fence") { return }
        must(driver.cuEventSynchronize(fence.handle), "cuEventSynchronize")
    }

    public func uploadAsync(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int,
                            after: QueueFence?, done: QueueFence) {
        if fault.isSet || breaksCapture("uploads from host memory") { return }
        lock.withLock {
            if copyStream == nil {
                // CU_STREAM_NON_BLOCKING (1): no implicit ordering with the legacy default stream.
                must(driver.cuStreamCreate(&copyStream, 1), "cuStreamCreate")
            }
            if let after { must(driver.cuStreamWaitEvent(copyStream, after.handle, 0), "cuStreamWaitEvent") }
            if count > 0 {
                let dst = UInt64(UInt(bitPattern: storage.pointer)) + UInt64(byteOffset)
                must(driver.cuMemcpyHtoDAsync(dst, source, count, copyStream), "cuMemcpyHtoDAsync")
            }
            must(driver.cuEventRecord(done.handle, copyStream), "cuEventRecord")
        }
    }

    /// Device memory the driver reports in use (total - free), all processes included: the counter
    /// `peakDeviceUsedBytes` follows.
    public var deviceUsedBytes: Int {
        let (free, total) = memoryInfo()
        return total - free
    }
}

/// Reading back without waiting (`AsyncDownloading`): the copy is queued on the compute stream into
/// page-locked memory, with the fence recorded after it.
extension CUDABackend: AsyncDownloading {
    public func downloadAsync(_ tensor: Tensor, done: QueueFence) -> Tensor {
        let t = tensor.moved(to: self).contiguous()
        let bytes = t.count * t.dtype.byteSize
        guard bytes > 0, !fault.isSet, !breaksCapture("reads values back"), let host = try? hostBuffer(byteCount: bytes) else {
            // No page-locked memory to spare (or nothing to copy): the ordinary, waiting download.
            recordCompute(done)
            return t.moved(to: CPUBackend.shared)
        }
        let src = UInt64(UInt(bitPattern: t.storage.pointer)) + UInt64(t.offset * t.dtype.byteSize)
        must(driver.cuMemcpyDtoHAsync(host.pointer, src, bytes, stream), "cuMemcpyDtoHAsync")
        recordCompute(done)
        return Tensor(storage: host, dtype: t.dtype, shape: t.shape)
    }
}
