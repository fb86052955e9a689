import Foundation
import Models

/// One submitted picture. All mutable state is guarded by the owning `JobQueue`'s lock.
// unchecked: every `var` is only touched under the owning `JobQueue`'s `cond` (NSCondition); `id`, `request`, `created` are `let`.
final class Job: @unchecked Sendable {
    enum Status: String { case queued, running, done, failed, cancelled }

    let id: String
    let request: GenerationRequest
    let created: Date

    var status: Status = .queued
    var stage: String?
    var step = 0
    var started: Double?       // monotonic seconds when it began running
    var denoiseStart: Double?  // pipeline-elapsed seconds at step 0
    var elapsed: Double?
    var eta: Double?
    var cancelRequested = false
    var history: HistoryEntry?
    var error: String?
    var finishedAt: Double?
    var preview: (step: Int, dataURL: String)?
    var followers: [Int: AsyncStream<JobEvent>.Continuation] = [:]
    var nextFollower = 0

    init(id: String, request: GenerationRequest) {
        self.id = id
        self.request = request
        self.created = Date()
    }

    var isFinished: Bool { status == .done || status == .failed || status == .cancelled }

    func snapshot(position: Int?) -> JobSnapshot {
        JobSnapshot(id: id, status: status.rawValue, position: status == .queued ? position : nil,
                    stage: status == .running ? stage : nil, step: step, total_steps: request.steps,
                    elapsed: elapsed, eta_seconds: status == .running ? eta : nil,
                    parameters: JobParameters(request), image: history?.url, history: history,
                    error: error, created: created.timeIntervalSince1970)
    }

    /// Sends an event to every follower; the final one ends their streams.
    func publish(_ event: JobEvent) {
        var gone: [Int] = []
        for (key, c) in followers {
            if case .terminated = c.yield(event) { gone.append(key) }  // the client went away
        }
        for key in gone { followers[key] = nil }
        if case .end = event {
            for c in followers.values { c.finish() }
            followers.removeAll()
        }
    }

    /// Random 16-hex-digit ids: unguessable enough for a local console, safe in URLs.
    static func makeID() -> String {
        let n = UInt64.random(in: 0...UInt64.max)
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
