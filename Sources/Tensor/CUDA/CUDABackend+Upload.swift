/// Host-to-device copies: from host memory (a pinned ring for small copies, the staging buffer for
/// large ones) and straight from a mapped checkpoint file (`FileUploading`: several threads `pread`
/// into pinned slots while earlier slots copy, `StagedFileReader`).
extension CUDABackend {
    public func upload(_ source: UnsafeRawPointer, count: Int, to storage: Storage, byteOffset: Int) {
        if count == 0 || fault.isSet || breaksCapture("uploads from host memory") { return }
        let dst = UInt64(UInt(bitPattern: storage.pointer)) + UInt64(byteOffset)
        lock.withLock {
            if count <= 1 << 20 {
                // Small copies go through a pinned ring and do not wait for the stream.
                if ringCursor + count > ringBytes {
                    must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
                    ringCursor = 0
                }
                let slot = ring! + ringCursor
                slot.copyMemory(from: source, byteCount: count)
                must(driver.cuMemcpyHtoDAsync(dst, slot, count, stream), "cuMemcpyHtoDAsync")
                ringCursor += (count + 255) / 256 * 256
                return
            }
            var done = 0
            while done < count {
                let n = Swift.min(stagingBytes, count - done)
                must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
                staging!.copyMemory(from: source + done, byteCount: n)
                must(driver.cuMemcpyHtoDAsync(dst + UInt64(done), staging, n, stream), "cuMemcpyHtoDAsync")
                done += n
            }
            must(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
        }
    }

    /// Reads the file range into pinned slots with `Configuration.uploadReaders` threads
    /// (`StagedFileReader`), each slot's copy queued on the stream, in file order, as soon as its wave
    /// is read, and an event recorded after it that the slot's next fill waits for. It does not wait
    /// for the last copies: like every op they finish in stream order, and the next upload's reads
    /// overlap them (a checkpoint loads as one stream of reads and copies, not tensor by tensor).
    /// Small ranges take the ordinary path, as does everything when pinned memory is refused.
    public func upload(from file: MappedFile, fileOffset: Int, count: Int, to storage: Storage, byteOffset: Int) -> Bool {
        if count <= 1 << 20 { return false }
        if fault.isSet || breaksCapture("uploads from a file") { return true }
        let dst = UInt64(UInt(bitPattern: storage.pointer)) + UInt64(byteOffset)
        let knobs = configuration
        return lock.withLock {
            guard let slots = uploadSlotsLocked(readers: knobs.uploadReaders, slotBytes: knobs.uploadSlotBytes) else { return false }
            let reader = StagedFileReader(readers: slots.readers, slotBytes: slots.slotBytes)
            return reader.copy(from: file, fileOffset: fileOffset, count: count, slots: slots.buffers, wave: &slots.wave,
                               awaitSlot: { must(driver.cuEventSynchronize(slots.events[$0]), "cuEventSynchronize") },
                               send: { slot, buffer, offset, n in
                                   must(driver.cuMemcpyHtoDAsync(dst + UInt64(offset), buffer, n, stream), "cuMemcpyHtoDAsync")
                                   must(driver.cuEventRecord(slots.events[slot], stream), "cuEventRecord")
                               })
        }
    }

    /// The upload slots for these knobs, made (or remade, after the old ones' copies finished) under
    /// `lock`; nil when the driver refuses the pinned memory or the events.
    private func uploadSlotsLocked(readers: Int, slotBytes: Int) -> UploadSlots? {
        let readers = Swift.max(1, readers), slotBytes = Swift.max(1, slotBytes)
        if let s = uploadSlots, s.readers == readers, s.slotBytes == slotBytes { return s }
        if let old = uploadSlots {
            for e in old.events { _ = driver.cuEventSynchronize(e) }
            old.release(driver)
            uploadSlots = nil
        }
        let s = UploadSlots(readers: readers, slotBytes: slotBytes)
        for _ in 0..<(2 * readers) {
            var p: UnsafeMutableRawPointer?, e: UnsafeMutableRawPointer?
            guard driver.cuMemAllocHost(&p, slotBytes) == 0, let p else { s.release(driver); return nil }
            s.buffers.append(p)
            // CU_EVENT_DISABLE_TIMING (2): cheaper to record and wait on.
            guard driver.cuEventCreate(&e, 2) == 0, let e else { s.release(driver); return nil }
            s.events.append(e)
        }
        uploadSlots = s
        return s
    }
}

/// The pinned slots file uploads read into (two per reader) and one event per slot, recorded after
/// the copy that last read it. Only touched under the backend's `lock`.
final class UploadSlots {
    let readers: Int
    let slotBytes: Int
    var buffers: [UnsafeMutableRawPointer] = []
    var events: [UnsafeMutableRawPointer?] = []
    /// Waves read so far (`StagedFileReader.copy`): which set of slots the next one fills.
    var wave = 0

    init(readers: Int, slotBytes: Int) {
        self.readers = readers
        self.slotBytes = slotBytes
    }

    /// Frees the buffers and events (their copies must have finished).
    func release(_ driver: CUDADriver) {
        for b in buffers { _ = driver.cuMemFreeHost(b) }
        for e in events { _ = driver.cuEventDestroy(e) }
        buffers = []
        events = []
    }
}
