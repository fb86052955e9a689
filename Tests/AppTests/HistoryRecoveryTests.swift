import Foundation
import MajicFluxApp
import Tensor
import XCTest

/// The output folder is the record: pictures missing from the job database come back, numbers are
/// never reused, no file is ever overwritten, and an old index that cannot be read fails no job.
final class HistoryRecoveryTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    private func start(_ folder: String) async throws -> TestConsole {
        let c = try await TestConsole.start(outputDirectory: folder)
        consoles.append(c)
        return c
    }

    /// Runs a tiny job to the end; returns its final snapshot.
    private func make(_ console: TestConsole, prompt: String, seed: Int) async throws -> [String: Any] {
        let job = try await console.submit(["prompt": prompt, "seed": seed, "steps": 1, "width": 32, "height": 32])
        let events = try await console.events(job["id"] as! String)
        return try XCTUnwrap(events.last?.data)
    }

    private func files(_ items: [[String: Any]]) -> [String] { items.compactMap { $0["file"] as? String } }

    private func history(_ console: TestConsole) async throws -> [[String: Any]] {
        try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
    }

    /// The database lost the last picture (a copy from before it was made put back): the PNG is
    /// listed again with its parameters, and the next picture, even with the same seed, takes a new
    /// number instead of overwriting it.
    func testPictureMissingFromTheDatabaseIsListedAndNotOverwritten() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let first = try await start(folder)
        _ = try await make(first, prompt: "first", seed: 100)
        await first.stop()
        consoles.removeAll()
        let olderDatabase = try Data(contentsOf: URL(fileURLWithPath: folder + "/majicflux.sqlite"))
        let again0 = try await start(folder)
        let second = try await make(again0, prompt: "second", seed: 101)
        XCTAssertEqual(second["image"] as? String, "/images/00002-101.png")
        await again0.stop()
        consoles.removeAll()
        try TestConsole.removeDatabase(in: folder)
        try olderDatabase.write(to: URL(fileURLWithPath: folder + "/majicflux.sqlite"))  // lists 00001 only
        let secondBytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/00002-101.png"))

        let again = try await start(folder)
        let items = try await history(again)
        XCTAssertEqual(files(items), ["00002-101.png", "00001-100.png"], "the unlisted PNG is back, newest first")
        XCTAssertEqual((items.first?["parameters"] as? [String: Any])?["prompt"] as? String, "second", "parameters from the PNG")
        let served = try await again.get("/images/00002-101.png")
        XCTAssertEqual(served.status, 200)
        let third = try await make(again, prompt: "third", seed: 101)
        XCTAssertEqual(third["status"] as? String, "done")
        XCTAssertEqual(third["image"] as? String, "/images/00003-101.png")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: folder + "/00002-101.png")), secondBytes, "not overwritten")
        let after = try await history(again)
        XCTAssertEqual(files(after), ["00003-101.png", "00002-101.png", "00001-100.png"])
    }

    /// Entries whose PNG is gone are dropped (their numbers stay used); a PNG without our chunk gets a
    /// minimal entry; a picture left half-written by a crash is cleaned away; other PNGs stay unlisted.
    func testIndexIsReconciledWithTheFolder() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let first = try await start(folder)
        _ = try await make(first, prompt: "gone", seed: 5)
        await first.stop()
        try FileManager.default.removeItem(atPath: folder + "/00001-5.png")
        let plain = try PNG.encode(PNGImage(width: 48, height: 32))
        try Data(plain).write(to: URL(fileURLWithPath: folder + "/00004-77.png"))
        try Data(plain).write(to: URL(fileURLWithPath: folder + "/holiday.png"))
        try Data("half a picture".utf8).write(to: URL(fileURLWithPath: folder + "/.partial-00005-1.png"))

        let again = try await start(folder)
        let items = try await history(again)
        XCTAssertEqual(files(items), ["00004-77.png"])
        let parameters = items.first?["parameters"] as? [String: Any]
        XCTAssertEqual([parameters?["width"] as? Int, parameters?["height"] as? Int, parameters?["seed"] as? Int], [48, 32, 77])
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/.partial-00005-1.png"))
        let next = try await make(again, prompt: "next", seed: 5)
        XCTAssertEqual(next["image"] as? String, "/images/00005-5.png")
        // The database recorded the reconciliation: after a restart the same list, and 00001 stays used.
        await again.stop()
        consoles.removeAll()
        let third = try await start(folder)
        let relisted = try await history(third)
        XCTAssertEqual(files(relisted), ["00005-5.png", "00004-77.png"])
    }

    /// A PNG carrying only A1111 `parameters` text (another tool kept just that chunk) is listed from
    /// it: the `<lora:...>` tags leave the prompt and become the entry's LoRAs (weight 1 when the tag
    /// gives none), and the fields give the rest (`T5 length` too).
    func testPictureWithOnlyInfotextIsListedWithItsLoRAs() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let infotext = """
            a castle <lora:ink:0.7>, at night <lora:glow>
            Negative prompt: blurry
            Steps: 12, Sampler: Euler, Schedule type: Simple, CFG scale: 4, Distilled CFG Scale: 2.5, Seed: 77, \
            Size: 48x32, T5 length: 128, Lora hashes: "ink: 0123456789ab, glow: ba9876543210", Model: "flux, dev"
            """
        let png = try PNG.encode(PNGImage(width: 48, height: 32), text: [(key: "parameters", value: infotext)])
        try Data(png).write(to: URL(fileURLWithPath: folder + "/00003-77.png"))
        let console = try await start(folder)
        let items = try await history(console)
        XCTAssertEqual(files(items), ["00003-77.png"])
        let p = try XCTUnwrap(items.first?["parameters"] as? [String: Any])
        XCTAssertEqual(p["prompt"] as? String, "a castle, at night")
        XCTAssertEqual(p["negative_prompt"] as? String, "blurry")
        let loras = (p["loras"] as? [[String: Any]] ?? []).map { "\($0["name"] as? String ?? "?") \($0["weight"] as? Double ?? .nan)" }
        XCTAssertEqual(loras, ["ink 0.7", "glow 1.0"])
        XCTAssertEqual([p["steps"] as? Int, p["seed"] as? Int, p["width"] as? Int, p["height"] as? Int], [12, 77, 48, 32])
        XCTAssertEqual([p["guidance"] as? Double, p["true_cfg_scale"] as? Double], [2.5, 4])
        XCTAssertEqual(p["max_sequence_length"] as? Int, 128, "the T5 length the text gives, not the preset's")
        XCTAssertEqual(items.first?["model"] as? String, "flux, dev")
    }

    /// A file that appears under the next name while the server runs is skipped, never replaced.
    func testExistingFileIsNeverOverwritten() async throws {
        let folder = TestConsole.freshOutputDirectory()
        let console = try await start(folder)
        _ = try await make(console, prompt: "one", seed: 1)
        let squatter = Data("not ours".utf8)
        try squatter.write(to: URL(fileURLWithPath: folder + "/00002-7.png"))
        let job = try await make(console, prompt: "two", seed: 7)
        XCTAssertEqual(job["status"] as? String, "done")
        XCTAssertEqual(job["image"] as? String, "/images/00003-7.png")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: folder + "/00002-7.png")), squatter)
    }

    /// An old `history.json` that is a folder (or unreadable) is noted and skipped: jobs are `done`
    /// and listed, and found again after a restart.
    func testUnreadableOldIndexFailsNoJob() async throws {
        let folder = TestConsole.freshOutputDirectory()
        try FileManager.default.createDirectory(atPath: folder + "/history.json", withIntermediateDirectories: true)
        let console = try await start(folder)
        let job = try await make(console, prompt: "still saved", seed: 3)
        XCTAssertEqual(job["status"] as? String, "done", "\(job)")
        XCTAssertEqual(job["image"] as? String, "/images/00001-3.png")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/00001-3.png"))
        let listed = try await history(console)
        XCTAssertEqual(files(listed), ["00001-3.png"])
        await console.stop()
        consoles.removeAll()
        let again = try await start(folder)
        let relisted = try await history(again)
        XCTAssertEqual(files(relisted), ["00001-3.png"], "found again")
    }
}
