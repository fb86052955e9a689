import Foundation
import Tensor

/// What the A1111 API remembers between requests: the batches now running (for `/progress`,
/// `/interrupt` and `/skip`) and the options set through `POST /options`.
// unchecked: `batches`, `nextBatch` and `options` are only touched under `lock` (NSLock).
final class A1111Activity: @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [Int: Batch] = [:]
    private var nextBatch = 0
    private var options: [String: JSONValue] = [:]

    /// One txt2img/img2img request's jobs, in picture order.
    struct Batch {
        var jobIDs: [String]
        var started: Date
        /// The newest preview of its running picture, a PNG data URL.
        var preview: String?
        var interrupted = false
        var skipped = false
        /// Jobs stopped by `/skip` (the batch goes on); any other cancel of one of its jobs (an
        /// interrupt through another front end, the console's cancel) stops the batch.
        var skippedJobs: Set<String> = []
    }

    func register(_ jobIDs: [String]) -> Int {
        lock.withLock {
            nextBatch += 1
            batches[nextBatch] = Batch(jobIDs: jobIDs, started: Date())
            return nextBatch
        }
    }

    func remove(_ id: Int) { lock.withLock { batches[id] = nil } }

    /// The batch holding job `jobID`, and the job's place in it.
    func batch(holding jobID: String) -> (id: Int, batch: Batch, index: Int)? {
        lock.withLock {
            for (id, b) in batches { if let i = b.jobIDs.firstIndex(of: jobID) { return (id, b, i) } }
            return nil
        }
    }

    func setPreview(_ id: Int, _ dataURL: String?) { lock.withLock { batches[id]?.preview = dataURL } }

    /// Marks the batch interrupted (its remaining pictures are not made) and returns its job ids.
    func interrupt(_ id: Int) -> [String] {
        lock.withLock {
            batches[id]?.interrupted = true
            return batches[id]?.jobIDs ?? []
        }
    }

    func markSkipped(_ id: Int, job: String) {
        lock.withLock {
            batches[id]?.skipped = true
            batches[id]?.skippedJobs.insert(job)
        }
    }

    /// Whether `job` of batch `id` was stopped by `/skip` (not an interrupt).
    func wasSkipped(_ id: Int, job: String) -> Bool { lock.withLock { batches[id]?.skippedJobs.contains(job) ?? false } }

    func isInterrupted(_ id: Int) -> Bool { lock.withLock { batches[id]?.interrupted ?? false } }

    /// Options set by `POST /options`, over the defaults.
    func options(over defaults: [String: JSONValue]) -> [String: JSONValue] {
        lock.withLock { defaults.merging(options) { _, set in set } }
    }

    func setOptions(_ values: [String: JSONValue]) { lock.withLock { options.merge(values) { _, new in new } } }

    /// A1111's job timestamp: "20261203161500" (UTC).
    static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMddHHmmss"
        return f.string(from: date)
    }
}
