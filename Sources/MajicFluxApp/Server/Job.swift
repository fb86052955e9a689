import Foundation

/// Jobs as the API shows them: ids and snapshots of the store's records.
enum Job {
    /// The snapshot of a stored job; `position` only matters while it is queued.
    static func snapshot(_ j: StoredJob, position: Int?) -> JobSnapshot {
        let running = j.status == .running
        return JobSnapshot(id: j.id, status: j.status.rawValue, position: j.status == .queued ? position : nil,
                           stage: running ? j.progress?.stage ?? "starting" : nil, step: j.progress?.step ?? 0,
                           total_steps: j.progress?.totalSteps ?? j.parameters.steps, elapsed: j.progress?.elapsed,
                           eta_seconds: running ? j.progress?.eta : nil, parameters: j.parameters,
                           image: j.history?.url, history: j.history,
                           error: j.status == .failed || j.status == .cancelled ? j.error : nil,
                           created: j.created, worker: j.status == .queued ? nil : j.workerID, attempts: j.attempts)
    }

    /// Random 16-hex-digit ids: unguessable enough for a local console, safe in URLs.
    static func makeID() -> String {
        let n = UInt64.random(in: 0...UInt64.max)
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
