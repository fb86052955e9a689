/// A backend that copies device values back to host memory on its compute queue without the host
/// waiting for them: the host reads them once the fence has passed, while the work queued after the
/// copy keeps running. The pipeline reads a step's live preview this way while the next step computes,
/// so the device never idles for the preview (FluxPipeline's `denoise`).
public protocol AsyncDownloading: AsyncUploading {
    /// Queues a copy of `tensor` into new host memory after the work queued so far, then records
    /// `done`. The returned CPU tensor (same shape and dtype) holds the values once `done` has passed
    /// (`hostWait`); reading it before is reading garbage.
    func downloadAsync(_ tensor: Tensor, done: QueueFence) -> Tensor
}
