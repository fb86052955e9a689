import Foundation
@testable import MajicFluxApp
import XCTest

/// The PostgreSQL job store's SQL semantics on a real server (skipped without
/// MAJICFLUX_TEST_POSTGRES_URL): migrations, claiming, leases, attempts, cancel, results.
final class PostgresJobStoreTests: XCTestCase {
    private var databases: [PostgresTestDatabase] = []
    private var stores: [PostgresJobStore] = []

    override func tearDown() async throws {
        for s in stores { await s.close() }
        stores.removeAll()
        for d in databases { await d.drop() }
        databases.removeAll()
    }

    private func database() async throws -> PostgresTestDatabase {
        let d = try await PostgresTestDatabase.make()
        databases.append(d)
        return d
    }

    private func open(_ d: PostgresTestDatabase, lease: Double = 10, attempts: Int = 3, poll: Double = 2) async throws -> PostgresJobStore {
        let s = try await PostgresJobStore.open(d.url, leaseSeconds: lease, maxAttempts: attempts, pollSeconds: poll, sweeps: false)
        stores.append(s)
        return s
    }

    @discardableResult
    private func enqueue(_ s: PostgresJobStore, _ id: String, model: String? = nil, loras: [String] = [],
                         inputs: [String: Data] = [:]) async throws -> PostgresJobRecord {
        try await s.enqueue(id: id, spec: #"{"prompt":"\#(id)"}"#, model: model, loras: loras, totalSteps: 4,
                            inputs: inputs, maxQueued: 1000)
    }

    /// Three processes' worth of stores opening a new database at once: each migration is applied
    /// once, and every store works.
    func testMigrationsRunOnceWhenStoresStartTogether() async throws {
        let d = try await database()
        let opened = try await withThrowingTaskGroup(of: PostgresJobStore.self) { group in
            for _ in 0..<3 { group.addTask { try await PostgresJobStore.open(d.url) } }
            var all: [PostgresJobStore] = []
            for try await s in group { all.append(s) }
            return all
        }
        stores += opened
        let versions = try await d.sql("SELECT version FROM majicflux_schema_migrations ORDER BY version")
            .map { try $0.decode(Int.self) }
        XCTAssertEqual(versions, Array(1...PostgresSchema.latestVersion))
        try await enqueue(opened[0], "a")
        let seen = try await opened[2].jobRecord("a")
        XCTAssertEqual(seen?.status, "queued")
        // A later start finds nothing to do.
        _ = try await open(d)
        let count = try await d.sql("SELECT count(*)::int8 FROM majicflux_schema_migrations").first?.decode(Int.self)
        XCTAssertEqual(count, PostgresSchema.latestVersion)
    }

    /// A database whose schema is newer than this program is refused, untouched.
    func testNewerSchemaIsRefused() async throws {
        let d = try await database()
        _ = try await open(d)
        _ = try await d.sql("INSERT INTO majicflux_schema_migrations (version) VALUES (\(PostgresSchema.latestVersion + 1))")
        do {
            _ = try await PostgresJobStore.open(d.url)
            XCTFail("a newer schema was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("newer than this majicflux"), "\(error)")
        }
    }

    /// Four claimers racing over 40 jobs: every job is claimed exactly once, in submission order
    /// per claimer.
    func testConcurrentClaimersNeverShareAJob() async throws {
        let d = try await database()
        let s = try await open(d)
        let ids = (0..<40).map { String(format: "job%02d", $0) }
        for id in ids { try await enqueue(s, id) }
        let others = [s, try await open(d), try await open(d), try await open(d)]
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for (n, store) in others.enumerated() {
                group.addTask {
                    var mine: [String] = []
                    while let c = try await store.claim(workerID: "w\(n)", model: nil, loras: []) {
                        XCTAssertEqual(c.attempt, 1)
                        mine.append(c.job.id)
                    }
                    return mine
                }
            }
            var all: [[String]] = []
            for try await m in group { all.append(m) }
            return all
        }
        let flat = claimed.flatMap { $0 }
        XCTAssertEqual(flat.count, 40, "claims: \(claimed)")
        XCTAssertEqual(Set(flat), Set(ids), "claims: \(claimed)")
        for mine in claimed { XCTAssertEqual(mine, mine.sorted(), "each claimer takes the oldest job first") }
        let running = try await d.sql("SELECT count(*)::int8 FROM majicflux_jobs WHERE status = 'running'").first?.decode(Int.self)
        XCTAssertEqual(running, 40)
    }

    /// A worker takes only jobs whose model and LoRAs it holds.
    func testClaimMatchesModelAndLoRAs() async throws {
        let d = try await database()
        let s = try await open(d)
        try await enqueue(s, "dev-style", model: "dev", loras: ["style"])
        try await enqueue(s, "schnell", model: "schnell")
        try await enqueue(s, "dev", model: "dev")
        let none = try await s.claim(workerID: "w", model: "other", loras: ["style"])
        XCTAssertNil(none)
        let plain = try await s.claim(workerID: "w1", model: "dev", loras: [])
        XCTAssertEqual(plain?.job.id, "dev", "a worker without the LoRA skips the older job that needs it")
        let styled = try await s.claim(workerID: "w2", model: "dev", loras: ["other", "style"])
        XCTAssertEqual(styled?.job.id, "dev-style")
        let fast = try await s.claim(workerID: "w3", model: "schnell", loras: [])
        XCTAssertEqual(fast?.job.id, "schnell")
    }

    /// A worker that stops heartbeating loses its job to the queue after the lease, counting an
    /// attempt; its late heartbeat and result are refused, so the job finishes once, elsewhere.
    func testExpiredLeaseRequeuesCountsAttemptsAndRefusesTheOldWorker() async throws {
        let d = try await database()
        let s = try await open(d, lease: 0.5)
        try await enqueue(s, "j")
        let first = try await s.claim(workerID: "dead", model: nil, loras: [])
        XCTAssertEqual(first?.attempt, 1)
        let early = try await s.sweepExpiredLeases()
        XCTAssertTrue(early.isEmpty, "a live lease is not swept")
        try await Task.sleep(for: .milliseconds(700))
        let swept = try await s.sweepExpiredLeases()
        XCTAssertEqual(swept.map(\.id), ["j"])
        XCTAssertEqual(swept.map(\.status), ["queued"])
        let requeued = try await s.jobRecord("j")
        XCTAssertEqual(requeued?.status, "queued")
        XCTAssertEqual(requeued?.attempts, 1)
        XCTAssertNil(requeued?.workerID)
        let second = try await s.claim(workerID: "alive", model: nil, loras: [])
        XCTAssertEqual(second?.attempt, 2)
        let late = try await s.heartbeat(jobID: "j", workerID: "dead", attempt: 1, progress: PostgresProgress(stage: "denoising", step: 3))
        XCTAssertTrue(late.leaseLost)
        let stale = try await s.complete(jobID: "j", workerID: "dead", attempt: 1) { n, _ in
            .init(file: "\(n)-dead.png", entry: "{}", png: Data([1, 2, 3]))
        }
        XCTAssertNil(stale, "the old worker's result is dropped")
        let beat = try await s.heartbeat(jobID: "j", workerID: "alive", attempt: 2, progress: PostgresProgress(stage: "denoising", step: 1))
        XCTAssertEqual(beat, PostgresHeartbeatAnswer(cancelRequested: false, leaseLost: false))
        let done = try await s.complete(jobID: "j", workerID: "alive", attempt: 2) { n, _ in
            .init(file: "\(n)-alive.png", entry: #"{"n":\#(n)}"#, png: Data([9]))
        }
        XCTAssertNotNil(done)
        let history = try await s.historyRecords()
        XCTAssertEqual(history.map(\.jobID), ["j"])
        let v1 = try await s.jobRecord("j")?.status
        XCTAssertEqual(v1, "done")
        let v2 = try await s.jobRecord("j")?.attempts
        XCTAssertEqual(v2, 2)
    }

    /// Heartbeats keep a long job's lease: it is never swept while its worker lives.
    func testHeartbeatsKeepTheLease() async throws {
        let d = try await database()
        let s = try await open(d, lease: 0.4)
        try await enqueue(s, "long")
        let c = try await s.claim(workerID: "w", model: nil, loras: [])
        for step in 1...5 {
            try await Task.sleep(for: .milliseconds(150))
            let beat = try await s.heartbeat(jobID: "long", workerID: "w", attempt: c!.attempt,
                                             progress: PostgresProgress(stage: "denoising", step: step, eta: 1, preview: "data:x", previewStep: step))
            XCTAssertFalse(beat.leaseLost)
            let swept = try await s.sweepExpiredLeases()
            XCTAssertTrue(swept.isEmpty)
        }
        let job = try await s.jobRecord("long")
        XCTAssertEqual(job?.step, 5)
        XCTAssertEqual(job?.preview, "data:x")
        XCTAssertEqual(job?.workerID, "w")
    }

    /// Failures re-queue the job until its attempts are used up, then it fails with the error;
    /// leases that expire count the same way.
    func testFailsAfterMaxAttempts() async throws {
        let d = try await database()
        let s = try await open(d, lease: 0.3, attempts: 3)
        try await enqueue(s, "bad")
        for attempt in 1...2 {
            let c = try await s.claim(workerID: "w", model: nil, loras: [])
            XCTAssertEqual(c?.attempt, attempt)
            let status = try await s.fail(jobID: "bad", workerID: "w", attempt: attempt, error: "boom \(attempt)")
            XCTAssertEqual(status, "queued")
        }
        // The third attempt's worker dies: the sweep fails the job, keeping the last error.
        _ = try await s.claim(workerID: "w", model: nil, loras: [])
        try await Task.sleep(for: .milliseconds(500))
        let swept = try await s.sweepExpiredLeases()
        XCTAssertEqual(swept.first?.status, "failed")
        let job = try await s.jobRecord("bad")
        XCTAssertEqual(job?.status, "failed")
        XCTAssertEqual(job?.attempts, 3)
        XCTAssertTrue(job?.error?.contains("failed 3 times") == true, job?.error ?? "")
        XCTAssertTrue(job?.error?.contains("boom 2") == true, job?.error ?? "")
        let nothing = try await s.claim(workerID: "w", model: nil, loras: [])
        XCTAssertNil(nothing)

        // A failure that must not be retried fails at once.
        try await enqueue(s, "invalid")
        let c = try await s.claim(workerID: "w", model: nil, loras: [])
        let status = try await s.fail(jobID: "invalid", workerID: "w", attempt: c!.attempt, error: "no such LoRA", retry: false)
        XCTAssertEqual(status, "failed")
        let v3 = try await s.jobRecord("invalid")?.error
        XCTAssertEqual(v3, "no such LoRA")
    }

    /// Cancel: a queued job ends at once; a running one is flagged, its worker learns it at the next
    /// heartbeat and ends it; a finished one is left as it is.
    func testCancelQueuedAndRunning() async throws {
        let d = try await database()
        let s = try await open(d)
        try await enqueue(s, "running")
        try await enqueue(s, "queued")
        let c = try await s.claim(workerID: "w", model: nil, loras: [])
        XCTAssertEqual(c?.job.id, "running")
        let q = try await s.requestCancelRecord("queued")
        XCTAssertEqual(q?.status, "cancelled")
        let nothing = try await s.claim(workerID: "w2", model: nil, loras: [])
        XCTAssertNil(nothing, "a cancelled job is never claimed")
        let r = try await s.requestCancelRecord("running")
        XCTAssertEqual(r?.status, "running")
        XCTAssertEqual(r?.cancelRequested, true)
        let beat = try await s.heartbeat(jobID: "running", workerID: "w", attempt: 1, progress: PostgresProgress(stage: "denoising", step: 2))
        XCTAssertTrue(beat.cancelRequested)
        let ended = try await s.finishCancelled(jobID: "running", workerID: "w", attempt: 1)
        XCTAssertTrue(ended)
        let v4 = try await s.jobRecord("running")?.status
        XCTAssertEqual(v4, "cancelled")
        let again = try await s.requestCancelRecord("running")
        XCTAssertEqual(again?.status, "cancelled")
        let unknown = try await s.requestCancelRecord("nope")
        XCTAssertNil(unknown)
        // A failure report after cancel was asked ends it cancelled, not re-queued.
        try await enqueue(s, "third")
        let t = try await s.claim(workerID: "w", model: nil, loras: [])
        _ = try await s.requestCancelRecord("third")
        let status = try await s.fail(jobID: "third", workerID: "w", attempt: t!.attempt, error: "stopped")
        XCTAssertEqual(status, "cancelled")
    }

    /// A result is stored with its picture, input pictures and history entry in one go; the
    /// picture is served from the database; deleting removes them; a full queue refuses.
    func testCompleteStoresPicturesHistoryAndQueueLimit() async throws {
        let d = try await database()
        let s = try await open(d)
        let png = Data((0..<5000).map { UInt8($0 % 251) })
        try await enqueue(s, "pic", inputs: ["image": Data([7, 7, 7]), "mask": Data([8])])
        let c = try await s.claim(workerID: "w", model: nil, loras: [])
        XCTAssertEqual(c?.inputs, ["image": Data([7, 7, 7]), "mask": Data([8])])
        let record = try await s.complete(jobID: "pic", workerID: "w", attempt: 1) { n, _ in
            .init(file: "\(n)-42.png", entry: #"{"file":"\#(n)-42.png"}"#, png: png, inputFiles: [(name: "\(n)-42-image.png", png: Data([7, 7, 7]))])
        }
        let file = try XCTUnwrap(record?.file)
        let v5 = try await s.pictureData(file: file)
        XCTAssertEqual(v5, png)
        let v6 = try await s.pictureData(file: String(file.dropLast(4)) + "-image.png")
        XCTAssertEqual(v6, Data([7, 7, 7]))
        let v7 = try await s.jobRecord("pic")?.resultFile
        XCTAssertEqual(v7, file)
        let v8 = try await s.historyRecord(file: file)?.entry
        XCTAssertEqual(v8, #"{"file":"\#(file)"}"#)
        let deleted = try await s.deleteHistoryRecord(file: file)
        XCTAssertEqual(deleted?.file, file)
        let v9 = try await s.pictureData(file: file)
        XCTAssertNil(v9)
        let v10 = try await s.pictureData(file: String(file.dropLast(4)) + "-image.png")
        XCTAssertNil(v10)
        let v11 = try await s.historyRecords().isEmpty
        XCTAssertTrue(v11)

        for i in 0..<2 { _ = try await s.enqueue(id: "f\(i)", spec: "{}", model: nil, loras: [], totalSteps: 1, maxQueued: 2) }
        do {
            _ = try await s.enqueue(id: "f2", spec: "{}", model: nil, loras: [], totalSteps: 1, maxQueued: 2)
            XCTFail("a full queue took a job")
        } catch let e as PostgresStoreRefusal {
            XCTAssertEqual(e, .queueFull(2))
        }
    }

    /// NOTIFY wakes an idle worker of another connection at once (its poll is 30 s), and change
    /// streams see jobs and workers change.
    func testNotificationsWakeWorkersAndReportChanges() async throws {
        let d = try await database()
        let worker = try await open(d, poll: 30)
        let front = try await open(d)
        var changes = front.notifications.changes().makeAsyncIterator()
        let ticket = worker.notifications.queuedTicket
        let start = ContinuousClock.now
        async let woke: Void = worker.waitForWork(after: ticket)
        try await Task.sleep(for: .milliseconds(100))
        try await enqueue(front, "wake")
        await woke
        let waited = ContinuousClock.now - start
        XCTAssertLessThan(waited, .seconds(5), "woken by NOTIFY, not by the 30 s poll")
        var seen: [PostgresNotifications.Change] = []
        while seen.count < 2, let change = await changes.next() { seen.append(change) }
        XCTAssertEqual(Set(seen.map { "\($0)" }), ["job(\"wake\")", "queued(\"wake\")"])
        try await worker.register(PostgresWorkerRecord(id: "w1", name: "gpu0", device: "cuda:0", model: "dev", loras: [], state: "idle"))
        var sawWorker = false
        for _ in 0..<10 {
            if case .worker("w1") = await changes.next() { sawWorker = true; break }
        }
        XCTAssertTrue(sawWorker)
        let listed = try await front.workerRecords()
        XCTAssertEqual(listed.map(\.name), ["gpu0"])
    }

    /// A server that cannot be reached, or refuses the login, gives an error naming the URL without
    /// its password.
    func testConnectionErrorsNameTheURLWithoutPassword() async throws {
        do {
            _ = try await PostgresJobStore.open("postgres://someone:s3cret-pw@127.0.0.1:1/nothing")
            XCTFail("connected to port 1")
        } catch {
            let text = "\(error)"
            XCTAssertTrue(text.contains("127.0.0.1:1"), text)
            XCTAssertTrue(text.contains("connecting"), text)
            XCTAssertFalse(text.contains("s3cret"), text)
        }
        // The pool's own error when the server went away under a running store (it named only
        // "connectionCreationCircuitBreakerTripped") says what it means.
        struct PoolError: Error, CustomStringConvertible { var description = "ConnectionPoolError(base: _ConnectionPoolModule.ConnectionPoolError.Base.connectionCreationCircuitBreakerTripped)" }
        let tripped = try PostgresURL("postgres://a:hidden@db.example:5432/q").explain(PoolError(), doing: "queueing a job").description
        XCTAssertTrue(tripped.contains("cannot connect") && tripped.contains("db.example:5432") && tripped.contains("queueing a job"), tripped)
        do {
            _ = try PostgresURL("mysql://a:hidden@host/db")
            XCTFail("a MySQL URL was accepted")
        } catch {
            XCTAssertFalse("\(error)".contains("hidden"), "\(error)")
        }
        guard let base = ProcessInfo.processInfo.environment[PostgresTestDatabase.variable] else {
            throw XCTSkip("\(PostgresTestDatabase.variable) is not set: the wrong-password half of this test needs a server")
        }
        var wrong = URLComponents(string: base)!
        wrong.password = "wrong-password"
        do {
            _ = try await PostgresJobStore.open(wrong.string!)
            XCTFail("a wrong password was accepted")
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("wrong-password"), text)
            XCTAssertTrue(text.contains("password authentication failed"), text)
        }
    }
}
