import Foundation
import Models

/// Jobs of one batch group (`JobParameters.batch_group`: an A1111 `batch_size` batch, the console's
/// batch count) claimed together (`JobStore.claimBatch`) run as one pass of the model
/// (`FluxPipeline.generate(batch:)`), and each still ends on its own:
/// - each job has its own heartbeat (lease, progress; the preview is the first job's picture only,
///   the others' progress has none);
/// - done: each job completes with its own picture and history entry;
/// - a cancel asked for one job (or its lease lost) stops the pass: that job ends cancelled (or is
///   left to its new owner), the others go back to the queue without counting the attempt and run
///   again, without it;
/// - a failure fails every job of the pass with the message; a job whose own request cannot be
///   made (a LoRA gone...) fails alone and the others run;
/// - jobs that turn out to differ in more than their seed (they should not) go back to the queue and
///   run in a later claim.
extension GenerationWorker {
    func runBatch(_ claimed: [ClaimedJob]) async {
        let states = claimed.map { RunState(progress: JobProgress(stage: "encoding text", step: 0, totalSteps: $0.job.parameters.steps)) }
        let beats = claimed.map { _ in WakeSignal() }
        await update {
            $0.state = .busy
            $0.jobID = claimed[0].job.id
            $0.message = "\(claimed.count) pictures in one pass"
        }
        let heartbeats = claimed.indices.map { i in Task { await self.heartbeats(claimed[i].job.id, states[i], beats[i]) } }
        let outcomes = await generateBatch(claimed, states, beats)
        for (task, beat) in zip(heartbeats, beats) {
            task.cancel()
            beat.signal()
            _ = await task.value
        }
        for i in claimed.indices { await finish(claimed[i].job, outcomes[i], states[i]) }
        await update {
            $0.state = .idle
            $0.jobID = nil
            $0.message = nil
        }
    }

    /// Each job's outcome, in order.
    private func generateBatch(_ claimed: [ClaimedJob], _ states: [RunState], _ beats: [WakeSignal]) async -> [Outcome] {
        let start = ProcessInfo.processInfo.systemUptime
        var outcomes = [Outcome?](repeating: nil, count: claimed.count)
        var requests: [(index: Int, request: GenerationRequest)] = []
        for (i, c) in claimed.enumerated() {
            do {
                let r = try await StoredJobRequest.request(c, loras: loras)
                if let first = requests.first, !r.differsOnlyInSeed(from: first.request) {
                    outcomes[i] = .released
                } else {
                    requests.append((i, r))
                }
            } catch {
                outcomes[i] = Self.outcome(error)
            }
        }
        guard !requests.isEmpty else { return outcomes.map { $0! } }
        let jobs = requests.map { claimed[$0.index].job }
        let rows = requests.map { (states[$0.index], beats[$0.index]) }
        do {
            let images = try await host.generate(batch: requests.map(\.request)) { [self] p in
                // Every job hears of every step; the preview (the first picture's) only goes to the first.
                var go = true
                for (k, job) in jobs.enumerated() {
                    var q = p
                    if k > 0 { q.denoised = nil }
                    go = progress(job, q, rows[k].0, rows[k].1) && go
                }
                return go
            }
            let seconds = ProcessInfo.processInfo.systemUptime - start
            Console.info("worker \(id): \(images.count) pictures in one pass (\(jobs.map(\.id).joined(separator: ", "))) \(await host.lastTimings.summary())")
            for (k, r) in requests.enumerated() { outcomes[r.index] = .done(images[k], request: r.request, seconds: seconds) }
        } catch {
            let failed = Self.outcome(error)
            for r in requests {
                if case .cancelled = failed {
                    // Stopped: the job that asked (or the server stopping) ends as a single job would;
                    // its siblings go back to the queue. A sibling whose cancel (an A1111 interrupt
                    // cancels them all) its heartbeat has not seen yet is asked now.
                    let state = states[r.index]
                    if !state.lock.withLock({ state.cancelRequested || state.leaseLost }),
                       let lease = try? await store.heartbeat(jobID: claimed[r.index].job.id, workerID: id, progress: nil) {
                        state.lock.withLock {
                            state.cancelRequested = state.cancelRequested || lease.cancelRequested
                            state.leaseLost = state.leaseLost || lease.leaseLost
                        }
                    }
                    let asked = state.lock.withLock { state.cancelRequested || state.leaseLost }
                    outcomes[r.index] = asked || isStopping ? .cancelled : .released
                } else {
                    outcomes[r.index] = failed
                }
            }
        }
        return outcomes.map { $0! }
    }
}
