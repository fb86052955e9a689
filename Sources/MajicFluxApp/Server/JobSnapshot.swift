/// What the API tells about a job (JSON, snake_case).
struct JobSnapshot: Codable, Sendable {
    var id: String
    /// "queued", "running", "done", "failed" or "cancelled".
    var status: String
    /// While queued: how many jobs run or wait before this one (the running jobs and the queued ones
    /// ahead; with one worker, 1 = next after the running one).
    var position: Int?
    /// While running: "waiting for the model", "encoding text", "denoising", "decoding" or "saving".
    var stage: String?
    /// Denoising steps finished.
    var step: Int
    var total_steps: Int
    /// Seconds since the job started running.
    var elapsed: Double?
    /// Estimated seconds left (from the pace of the steps so far).
    var eta_seconds: Double?
    /// Parameters, with the seed actually used.
    var parameters: JobParameters
    /// When done: the PNG's URL (`/images/NAME.png`) and the history entry.
    var image: String?
    var history: HistoryEntry?
    /// When failed or cancelled: why.
    var error: String?
    /// Unix time of submission.
    var created: Double
    /// The id of the worker running it (while running), or of the last one that ran it.
    var worker: String?
    /// Runs begun (more than 1: a worker died running it and it was re-queued).
    var attempts: Int?
    /// In the answer to a submission with `batch_count` above 1: the ids of every job of the batch
    /// group (this one first).
    var batch: [String]?

    var isFinished: Bool { status == "done" || status == "failed" || status == "cancelled" }
}

/// One message to a follower of a job; the SSE stream names them `progress`, `preview` and `end`.
enum JobEvent: Sendable {
    case progress(JobSnapshot)
    /// A PNG data URL of the current estimate of the picture, at `step`.
    case preview(step: Int, dataURL: String)
    /// The final snapshot; the stream ends after it.
    case end(JobSnapshot)
}
