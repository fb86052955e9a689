import Foundation
@testable import MajicFluxApp
import Models
import Tensor
import XCTest

/// Batch groups on the server (issue 21): both stores claim a group together, the worker makes it
/// in one pass and each job ends with its own picture; the A1111 API's `batch_size` and the
/// console's `batch_count` queue groups.
final class BatchJobTests: XCTestCase {
    private var consoles: [TestConsole] = []
    private var cleanup: [() async -> Void] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
        for f in cleanup { await f() }
        cleanup.removeAll()
    }

    private func start() async throws -> TestConsole {
        let c = try await TestConsole.start()
        consoles.append(c)
        return c
    }

    private func newJob(_ id: String, seed: UInt64, group: String?, loras: [String] = []) -> NewJob {
        var p = JobParameters(GenerationRequest(prompt: "p", seed: seed, steps: 2, width: 32, height: 32))
        p.batch_group = group
        return NewJob(id: id, parameters: p, requirements: JobRequirements(model: nil, loras: loras))
    }

    /// Claims on any store: a job of its own alone, then a group together (up to the limit, skipping
    /// jobs this worker cannot run), in run order, each running under its own lease; a group is
    /// queued all or none.
    private func checkGroupClaims(_ store: any JobStore) async throws {
        let worker = WorkerRecord(id: "w", name: "w", device: "cpu", model: "m", state: .idle, started: 0, lastSeen: 0)
        try await store.register(worker)
        _ = try await store.enqueue(newJob("solo", seed: 1, group: nil), maxQueued: 100)
        _ = try await store.enqueueGroup([newJob("g1", seed: 10, group: "g"), newJob("other", seed: 5, group: "h"),
                                          newJob("g2", seed: 11, group: "g"), newJob("lora", seed: 12, group: "g", loras: ["x"]),
                                          newJob("g3", seed: 13, group: "g"), newJob("g4", seed: 14, group: "g")], maxQueued: 100)
        var claimed = try await store.claimBatch(worker: worker, limit: 8)
        XCTAssertEqual(claimed.map(\.job.id), ["solo"], "a job of its own runs alone")
        claimed = try await store.claimBatch(worker: worker, limit: 3)
        XCTAssertEqual(claimed.map(\.job.id), ["g1", "g2", "g3"], "the group in run order, up to the limit, without the job needing a LoRA")
        XCTAssertEqual(claimed.map(\.job.status), [.running, .running, .running])
        XCTAssertEqual(claimed.map(\.job.parameters.seed), [10, 11, 13])
        for c in claimed {
            let lease = try await store.heartbeat(jobID: c.job.id, workerID: "w", progress: nil)
            XCTAssertFalse(lease.leaseLost, "each job of the batch is held")
        }
        claimed = try await store.claimBatch(worker: worker, limit: 8)
        XCTAssertEqual(claimed.map(\.job.id), ["other"], "another group is another batch")
        claimed = try await store.claimBatch(worker: worker, limit: 8)
        XCTAssertEqual(claimed.map(\.job.id), ["g4"])
        let none = try await store.claimBatch(worker: worker, limit: 8)
        XCTAssertEqual(none.count, 0, "the LoRA job waits for a worker with the LoRA")
        // All or none: a group that does not fit is refused whole.
        do {
            _ = try await store.enqueueGroup([newJob("f1", seed: 1, group: "f"), newJob("f2", seed: 2, group: "f")], maxQueued: 2)
            XCTFail("a group beyond the queue's limit was queued")
        } catch JobStoreError.queueFull {}
        let refused = try await store.job("f1")
        XCTAssertNil(refused, "nothing of a refused group is queued")
    }

    func testSQLiteStoreClaimsABatchGroupTogether() async throws {
        let dir = TestConsole.freshOutputDirectory()
        let store = try SQLiteJobStore(directory: dir)
        cleanup.append { await store.close(); try? FileManager.default.removeItem(atPath: dir) }
        try await checkGroupClaims(store)
    }

    func testPostgresStoreClaimsABatchGroupTogether() async throws {
        let d = try await PostgresTestDatabase.make()
        let store = try await PostgresJobStore.open(d.url, leaseSeconds: 10, maxAttempts: 3, pollSeconds: 2, sweeps: false)
        cleanup.append { await store.close(); await d.drop() }
        try await checkGroupClaims(store)
    }

    /// The pixels of a PNG (base64) and its seed's single picture from the A1111 API.
    private func pixels(_ base64: String) throws -> [UInt8] {
        try PNG.decode([UInt8](try XCTUnwrap(Data(base64Encoded: base64)))).image.pixels
    }

    /// `batch_size` 2: two pictures with seeds s and s+1, made in one pass of the worker, each the
    /// picture a batch of one makes for its seed.
    func testA1111BatchSizeTwoIsOnePassWithSeedsSAndSPlusOne() async throws {
        let console = try await start()
        let host = try XCTUnwrap(console.server).host
        let body: [String: Any] = ["prompt": "a red square", "seed": 40, "batch_size": 2, "steps": 2, "width": 32, "height": 48]
        let r = try await console.post("/sdapi/v1/txt2img", json: body)
        XCTAssertEqual(r.status, 200, r.text)
        let images = try XCTUnwrap(r.json["images"] as? [String])
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(r.json["info"] as? String).utf8)) as? [String: Any])
        XCTAssertEqual(info["all_seeds"] as? [Int], [40, 41])
        XCTAssertEqual(images.count, 2)
        let (passes, rows) = (await host.passes, await host.lastPassRows)
        XCTAssertEqual(passes, 1, "one pass for the batch")
        XCTAssertEqual(rows, 2, "both pictures in that pass")
        // Each picture is its seed's single run (to float rounding).
        for (k, seed) in [40, 41].enumerated() {
            var single = body
            single["seed"] = seed
            single["batch_size"] = 1
            let s = try await console.post("/sdapi/v1/txt2img", json: single)
            let alone = try pixels(try XCTUnwrap((s.json["images"] as? [String])?.first))
            let batched = try pixels(images[k])
            XCTAssertLessThanOrEqual(zip(alone, batched).map { abs(Int($0) - Int($1)) }.max() ?? 99, 1, "seed \(seed)")
        }
        XCTAssertNotEqual(try pixels(images[0]), try pixels(images[1]))
        let again = await host.passes
        XCTAssertEqual(again, 1, "single pictures do not take the batch path")
        // The history keeps both pictures of the group, marked with it.
        let history = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        let groups = history.compactMap { ($0["parameters"] as? [String: Any])?["batch_group"] as? String }
        XCTAssertEqual(groups.count, 2, "\(history)")
        XCTAssertEqual(Set(groups).count, 1)
    }

    /// The console's `batch_count`: one submission, a group of seeds s, s+1, s+2 in one pass, every
    /// job done with its own picture; counts outside 1...4 are refused.
    func testConsoleBatchCountQueuesAGroupMadeInOnePass() async throws {
        let console = try await start()
        let host = try XCTUnwrap(console.server).host
        let page = try await console.get("/")
        XCTAssertTrue(page.text.contains("id=\"batch-count\"") && page.text.contains("batch_count:"), "the page has the field and sends it")
        let first = try await console.submit(["prompt": "a blue circle", "seed": 7, "steps": 2, "width": 32, "height": 32, "batch_count": 3])
        let ids = try XCTUnwrap(first["batch"] as? [String])
        XCTAssertEqual(ids.count, 3)
        XCTAssertEqual(ids.first, first["id"] as? String)
        var seeds: [Int] = [], images: Set<String> = []
        for id in ids {
            let done = try await console.waitForJob(id) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
            XCTAssertEqual(done["status"] as? String, "done", "\(done)")
            seeds.append((done["parameters"] as? [String: Any])?["seed"] as? Int ?? -1)
            images.insert(done["image"] as? String ?? "")
        }
        XCTAssertEqual(seeds, [7, 8, 9])
        XCTAssertEqual(images.count, 3, "each job its own picture")
        let (passes, rows) = (await host.passes, await host.lastPassRows)
        XCTAssertEqual(passes, 1)
        XCTAssertEqual(rows, 3)
        for bad in [0, 5, -1] {
            let r = try await console.post("/api/jobs", json: ["prompt": "x", "steps": 2, "width": 32, "height": 32, "batch_count": bad])
            XCTAssertEqual(r.status, 400, r.text)
            XCTAssertTrue(r.text.contains("batch_count must be between 1 and 4, got \(bad)"), r.text)
        }
    }

    /// Cancelling one job of a running batch: that job ends cancelled, its sibling goes back to the
    /// queue and is made alone, to the end.
    func testCancellingOneJobOfARunningBatchKeepsTheOther() async throws {
        let console = try await start()
        let first = try await console.submit(["prompt": "a long one", "seed": 3, "steps": 100, "width": 256, "height": 256, "batch_count": 2])
        let ids = try XCTUnwrap(first["batch"] as? [String])
        _ = try await console.waitForJob(ids[1]) { ($0["step"] as? Int ?? 0) >= 1 }
        let cancel = try await console.post("/api/jobs/\(ids[1])/cancel", json: [:])
        XCTAssertEqual(cancel.status, 200, cancel.text)
        let cancelled = try await console.waitForJob(ids[1], timeout: 120) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(cancelled["status"] as? String, "cancelled", "\(cancelled)")
        let kept = try await console.waitForJob(ids[0], timeout: 120) { ["done", "failed", "cancelled"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(kept["status"] as? String, "done", "\(kept)")
        XCTAssertEqual((kept["parameters"] as? [String: Any])?["seed"] as? Int, 3)
    }
}
