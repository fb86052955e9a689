import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MajicFluxApp
import Tensor
import XCTest

/// The embedded job store (`<output-dir>/majicflux.sqlite`) through kills, damage and an old index:
/// no finished picture lost, no job run twice, a damaged database reported and left as it is.
final class JobStoreCrashTests: XCTestCase {
    private var consoles: [TestConsole] = []
    private var processes: [Process] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        processes.removeAll()
    }

    private func start(_ folder: String, lease: Double = 30) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: folder)
        c.jobLeaseSeconds = lease
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        return console
    }

    /// `majicflux serve` on the tiny model in a process of its own, ready.
    private func launchServe(_ folder: String) async throws -> (Process, TestConsole) {
        let (p, log) = try TestConsole.launch(try TestConsole.executable(), [
            "serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0", "--output-dir", folder,
            "--max-sequence-length", "8"])
        processes.append(p)
        let console = try await TestConsole.remote(process: p, log: log)
        try await console.waitUntilReady()
        return (p, console)
    }

    private func history(_ console: TestConsole) async throws -> [[String: Any]] {
        try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
    }

    /// `majicflux serve` killed with SIGKILL twice while it runs jobs back to back (so the kill
    /// lands in a step, a PNG write or a commit): afterwards the database passes SQLite's integrity
    /// check, every picture listed before a kill is still there byte for byte, every PNG in the
    /// folder is listed, and the jobs left queued or running run after the restart, each exactly once.
    func testKilledServerLosesNothingAndRunsEveryJobOnce() async throws {
        let binary = try TestConsole.executable()
        let folder = TestConsole.freshOutputDirectory()
        var submitted: [String] = []
        var seenBeforeKill: [String: Data] = [:]  // file -> bytes
        for round in 0..<2 {
            let (p, log) = try TestConsole.launch(binary, [
                "serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0", "--output-dir", folder,
                "--max-sequence-length", "8", "--job-lease", "2"])
            processes.append(p)
            let console = try await TestConsole.remote(process: p, log: log)
            try await console.waitUntilReady()
            for i in 0..<6 {
                let job = try await console.submit(["prompt": "kill round \(round) job \(i)", "seed": 100 * round + i,
                                                    "steps": 3, "width": 96, "height": 96])
                submitted.append(try XCTUnwrap(job["id"] as? String))
            }
            // Kill once a few are done and others still run or wait.
            let before = try await history(console).count
            let deadline = Date().addingTimeInterval(60)
            while try await history(console).count < before + 2 && Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
            for item in try await history(console) {
                let file = try XCTUnwrap(item["file"] as? String)
                if seenBeforeKill[file] == nil { seenBeforeKill[file] = try await console.get("/images/" + file).body }
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal)
            XCTAssertEqual(try ConsoleServer.databaseIntegrity(outputDirectory: folder), ["ok"], "round \(round)")
        }
        XCTAssertGreaterThanOrEqual(seenBeforeKill.count, 4)

        // Restarted: the jobs of the killed runs finish here (their leases of 2 s run out first).
        let console = try await start(folder, lease: 2)
        var items: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(90)
        repeat {
            items = try await history(console)
            if Set(items.compactMap { $0["id"] as? String }).isSuperset(of: submitted) { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        } while Date() < deadline
        let ids = items.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids), Set(submitted), "every job made its picture")
        XCTAssertEqual(ids.count, submitted.count, "and exactly one: \(ids.sorted())")
        for (file, bytes) in seenBeforeKill {
            let served = try await console.get("/images/" + file)
            XCTAssertEqual(served.status, 200, file)
            XCTAssertEqual(served.body, bytes, "\(file) unchanged")
        }
        let pngs = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".png") && !$0.hasPrefix(".") }
        XCTAssertEqual(Set(pngs), Set(items.compactMap { $0["file"] as? String }), "every PNG in the folder is listed")
        let active = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(active?.count, 0)
        await console.stop()
        consoles.removeAll()
        XCTAssertEqual(try ConsoleServer.databaseIntegrity(outputDirectory: folder), ["ok"])
    }

    /// `majicflux serve` stopped with SIGTERM (Ctrl-C, `systemctl stop`, `docker stop`) while one job
    /// runs and others wait: it exits cleanly, an A1111 request still waiting for its pictures gets
    /// 503 (not a 200 without pictures), and after the restart every job runs, each once.
    func testStoppedServerKeepsItsQueueForTheRestart() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let (p, console) = try await launchServe(folder)
        var submitted: [String] = []
        // Jobs long enough (512x512, 100 steps each) that the queue cannot drain while the test
        // sets up the stop.
        for i in 0..<3 {
            let job = try await console.submit(["prompt": "stop job \(i)", "seed": i, "steps": 100, "width": 512, "height": 512])
            submitted.append(try XCTUnwrap(job["id"] as? String))
        }
        _ = try await console.waitForJob(submitted[0]) { $0["status"] as? String == "running" }
        let waiting = Task { try await console.post("/sdapi/v1/txt2img", json: ["prompt": "a waiting client", "steps": 2, "width": 64, "height": 64]) }
        // The stop comes once the A1111 request's job is queued (behind the three).
        let queued = Date().addingTimeInterval(30)
        while Date() < queued, (try await console.get("/api/jobs").json["jobs"] as? [Any])?.count ?? 0 < 4 {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        kill(p.processIdentifier, SIGTERM)
        let answer = try await waiting.value
        XCTAssertEqual(answer.status, 503, String(decoding: answer.body, as: UTF8.self))
        XCTAssertTrue(String(decoding: answer.body, as: UTF8.self).contains("stay queued"), String(decoding: answer.body, as: UTF8.self))
        p.waitForExit(within: 60, "serve after SIGTERM")
        XCTAssertEqual(p.terminationStatus, 0, "a clean exit")

        let again = try await start(folder)
        var ids: [String] = []
        let deadline = Date().addingTimeInterval(120)
        repeat {
            ids = try await history(again).compactMap { $0["id"] as? String }
            if Set(ids).isSuperset(of: submitted) && ids.count >= 4 { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        } while Date() < deadline
        XCTAssertTrue(Set(ids).isSuperset(of: submitted), "the stopped server's jobs ran after the restart: \(ids)")
        XCTAssertEqual(ids.count, 4, "each once, the A1111 request's job too: \(ids)")
    }

    /// `majicflux serve` killed with SIGKILL while one job runs and two wait, restarted with the
    /// usual 30 s lease: the killed job is taken back at once (its worker's lock file is free, so its
    /// process is gone) and runs first, before the jobs queued after it. It waited out the lease
    /// before, and the later jobs could finish first.
    func testKilledServersRunningJobRunsFirstAfterTheRestart() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let (p, console) = try await launchServe(folder)
        var submitted: [String] = []
        for (i, steps) in [100, 2, 2].enumerated() {
            let job = try await console.submit(["prompt": "kill job \(i)", "seed": i, "steps": steps, "width": 512, "height": 512])
            submitted.append(try XCTUnwrap(job["id"] as? String))
        }
        _ = try await console.waitForJob(submitted[0]) { ($0["step"] as? Int ?? 0) >= 1 }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()

        let restarted = Date()
        let again = try await start(folder, lease: 30)
        let first = try await again.waitForJob(submitted[0], timeout: 120) { ["done", "failed"].contains($0["status"] as? String ?? "") }
        XCTAssertEqual(first["status"] as? String, "done", "\(first)")
        XCTAssertLessThan(Date().timeIntervalSince(restarted), 25, "taken back before its 30 s lease ran out")
        XCTAssertEqual(first["attempts"] as? Int, 2, "run again, once: \(first)")
        for id in submitted.dropFirst() {
            _ = try await again.waitForJob(id, timeout: 60) { $0["status"] as? String == "done" }
        }
        // History numbers follow the order pictures were made in.
        let files = Dictionary(uniqueKeysWithValues: try await history(again).compactMap { item -> (String, String)? in
            guard let id = item["id"] as? String, let file = item["file"] as? String else { return nil }
            return (id, file)
        })
        let order = submitted.map { files[$0] ?? "" }
        XCTAssertEqual(order, order.sorted(), "the killed job ran first, then the others in order: \(order)")
        let lockFolder = folder + "/.majicflux-workers"
        let locks = (try? FileManager.default.contentsOfDirectory(atPath: lockFolder)) ?? []
        XCTAssertEqual(locks.count, 1, "the dead worker's lock file is gone, the live one's is there: \(locks)")
    }

    /// A file that is not a database, and a real one damaged in the middle: the server refuses to
    /// start, naming the file and what to do; the file is left exactly as it was.
    func testDamagedDatabaseIsReportedAndKept() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let path = folder + "/majicflux.sqlite"
        let garbage = Data(String(repeating: "not a database at all ", count: 300).utf8)
        try garbage.write(to: URL(fileURLWithPath: path))
        func assertRefused(_ what: String) {
            XCTAssertThrowsError(try ConsoleServer(configuration: TestConsole.configuration(outputDirectory: folder)), what) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(path), message)
                XCTAssertTrue(message.contains("move it aside") && message.contains("re-imported from the PNGs"), message)
            }
        }
        assertRefused("garbage")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), garbage, "not replaced")

        // The command line says the same and exits.
        let cli = try TestConsole.runToEnd(["serve", "--model", TestConsole.tinyModel, "--device", "cpu", "--port", "0",
                                            "--output-dir", folder], limit: 60)
        XCTAssertNotEqual(cli.status, 0)
        XCTAssertTrue(cli.log.contains("move it aside"), cli.log)

        // A database with a picture, then pages in its middle overwritten.
        let other = TestConsole.freshOutputDirectory()
        let console = try await start(other)
        let job = try await console.submit(["prompt": "damaged later", "seed": 1, "steps": 1, "width": 32, "height": 32])
        _ = try await console.events(try XCTUnwrap(job["id"] as? String))
        await console.stop()
        consoles.removeAll()
        let otherPath = other + "/majicflux.sqlite"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: otherPath))
        guard bytes.count > 4 * 4096 else { return XCTFail("the database has \(bytes.count) bytes; expected several pages") }
        for i in 4096..<(3 * 4096) { bytes[i] = UInt8(truncatingIfNeeded: i &* 131) }
        try bytes.write(to: URL(fileURLWithPath: otherPath))
        XCTAssertThrowsError(try ConsoleServer(configuration: TestConsole.configuration(outputDirectory: other))) { error in
            XCTAssertTrue("\(error)".contains(otherPath) && "\(error)".contains("move it aside"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: otherPath)), bytes, "not replaced")

        // Moved aside, as the message says: the picture comes back from its PNG.
        try FileManager.default.moveItem(atPath: otherPath, toPath: otherPath + ".damaged")
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: otherPath + suffix) }
        let again = try await start(other)
        let items = try await history(again)
        XCTAssertEqual(items.compactMap { $0["id"] as? String }, [job["id"] as? String], "job id from the PNG's majicflux-job chunk")
        XCTAssertEqual((items.first?["parameters"] as? [String: Any])?["prompt"] as? String, "damaged later")
    }

    /// An older version's `history.json` is imported once: its entries (here with a model name
    /// only the index has) are listed, the file stays, and a later edit of it changes nothing.
    func testOldHistoryIndexIsImportedOnce() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let first = try await start(folder)
        let job = try await first.submit(["prompt": "from an older version", "seed": 9, "steps": 1, "width": 32, "height": 32])
        _ = try await first.events(try XCTUnwrap(job["id"] as? String))
        let listed = try await history(first)
        var entry = try XCTUnwrap(listed.first)
        await first.stop()
        consoles.removeAll()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: folder + "/majicflux.sqlite" + suffix) }
        entry["model"] = "named in the old index"
        let index = folder + "/history.json"
        try JSONSerialization.data(withJSONObject: [entry]).write(to: URL(fileURLWithPath: index))

        let second = try await start(folder)
        let imported = try await history(second)
        XCTAssertEqual(imported.map { $0["model"] as? String }, ["named in the old index"])
        await second.stop()
        consoles.removeAll()
        XCTAssertTrue(FileManager.default.fileExists(atPath: index), "the old index is kept")
        entry["model"] = "edited after the import"
        try JSONSerialization.data(withJSONObject: [entry]).write(to: URL(fileURLWithPath: index))
        let third = try await start(folder)
        let later = try await history(third)
        XCTAssertEqual(later.map { $0["model"] as? String }, ["named in the old index"], "imported once only")
    }
}
