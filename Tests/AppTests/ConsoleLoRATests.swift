import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Models
import Tensor
import XCTest

/// The console's LoRAs: the folder listing (`GET /api/loras`), the `loras` field of a job and its
/// checks, a job's picture and history entry with a LoRA, and the history rebuilt from the PNGs.
final class ConsoleLoRATests: XCTestCase {
    private var consoles: [TestConsole] = []
    private var folders: [String] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
        for f in folders { try? FileManager.default.removeItem(atPath: f) }
    }

    private func start(loras: String?, outputDirectory: String = TestConsole.freshOutputDirectory()) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: outputDirectory)
        c.loraDirectory = loras
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        return console
    }

    private func folder() throws -> String {
        let dir = try TinyLoRA.folderWithOutline()
        folders.append(dir)
        return dir
    }

    private func listing(_ console: TestConsole) async throws -> (names: [String], loras: [[String: Any]], skipped: [String: String]) {
        let r = try await console.get("/api/loras")
        XCTAssertEqual(r.status, 200, r.text)
        let loras = r.json["loras"] as? [[String: Any]] ?? []
        var skipped: [String: String] = [:]
        for s in r.json["skipped"] as? [[String: Any]] ?? [] { skipped[s["file"] as? String ?? ""] = s["reason"] as? String }
        return (loras.compactMap { $0["name"] as? String }, loras, skipped)
    }

    /// Runs a job to the end; its final snapshot.
    private func run(_ console: TestConsole, _ job: [String: Any]) async throws -> [String: Any] {
        let submitted = try await console.submit(job)
        let events = try await console.events(submitted["id"] as! String)
        return try XCTUnwrap(events.last?.data)
    }

    private func loras(_ parameters: Any?) -> [String] {
        ((parameters as? [String: Any])?["loras"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "?"):\($0["weight"] ?? "?")" }
    }

    /// The listing holds the folder's LoRA files with their metadata, leaves out (and says why) what is
    /// not one or cannot be named safely, and follows the folder as files come, change and go.
    func testListingShowsTheFolderAndFollowsItsChanges() async throws {
        let dir = try folder()
        let outside = TestConsole.freshOutputDirectory()
        folders.append(outside)
        try TinyLoRA.write(to: outside + "/secret.safetensors")
        let fm = FileManager.default
        try TinyLoRA.write(to: dir + "/plain.safetensors", rank: 2)
        try TinyLoRA.write(to: dir + "/.hidden.safetensors")
        try TinyLoRA.write(to: dir + "/bad:name.safetensors")
        try Data("notes".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        try Data("not a safetensors file at all".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.safetensors"))
        try SafeTensorsWriter.write([("weight", Tensor([1, 2, 3, 4], shape: [2, 2]))], to: dir + "/nolora.safetensors")
        try fm.createSymbolicLink(atPath: dir + "/escape.safetensors", withDestinationPath: outside + "/secret.safetensors")
        try fm.createSymbolicLink(atPath: dir + "/alias.safetensors", withDestinationPath: "outline.safetensors")
        try fm.createDirectory(atPath: dir + "/folder.safetensors", withIntermediateDirectories: true)

        let console = try await start(loras: dir)
        let first = try await listing(console)
        XCTAssertEqual(first.names, ["alias", "outline", "plain"])
        let outline = try XCTUnwrap(first.loras.first { $0["name"] as? String == "outline" })
        XCTAssertEqual(outline["title"] as? String, "Tiny Outline")
        XCTAssertEqual(outline["trigger_words"] as? [String], ["tiny outline", "bold lines"])
        XCTAssertEqual(outline["rank"] as? Int, 4)
        let size = try fm.attributesOfItem(atPath: dir + "/outline.safetensors")[.size] as? Int
        XCTAssertEqual(outline["size"] as? Int, size)
        let plain = try XCTUnwrap(first.loras.first { $0["name"] as? String == "plain" })
        XCTAssertEqual(plain["title"] as? String, "plain", "no title in the metadata: the name")
        XCTAssertEqual(plain["trigger_words"] as? [String], [])
        XCTAssertEqual(plain["rank"] as? Int, 2)
        XCTAssertEqual(Set(first.skipped.keys), ["bad:name.safetensors", "garbage.safetensors", "nolora.safetensors",
                                                 "escape.safetensors", "folder.safetensors"], "\(first.skipped)")
        XCTAssertTrue(first.skipped["escape.safetensors"]?.contains("outside the LoRA folder") ?? false)
        XCTAssertTrue(first.skipped["bad:name.safetensors"]?.contains("':'") ?? false)
        XCTAssertTrue(first.skipped["nolora.safetensors"]?.contains("no LoRA weights") ?? false)
        XCTAssertTrue(first.skipped["garbage.safetensors"]?.contains("not a readable safetensors file") ?? false)

        // A new file appears, one is rewritten with another rank, one goes.
        try TinyLoRA.write(to: dir + "/fresh.safetensors", metadata: ["ss_output_name": "Fresh Style"])
        try TinyLoRA.write(to: dir + "/outline.safetensors", rank: 3, metadata: TinyLoRA.outlineMetadata)
        try fm.removeItem(atPath: dir + "/plain.safetensors")
        let second = try await listing(console)
        XCTAssertEqual(second.names, ["alias", "fresh", "outline"])
        XCTAssertEqual(second.loras.first { $0["name"] as? String == "outline" }?["rank"] as? Int, 3, "the rewritten file is read again")
        XCTAssertEqual(second.loras.first { $0["name"] as? String == "fresh" }?["title"] as? String, "Fresh Style")

        // Without a LoRA folder: an empty listing.
        let none = try await start(loras: nil)
        let empty = try await none.get("/api/loras")
        XCTAssertEqual((empty.json["loras"] as? [Any])?.count, 0)
        XCTAssertTrue(empty.json["directory"] is NSNull, empty.text)
    }

    /// Every bad `loras` value is a 400 naming the entry and the problem: paths and traversal,
    /// names not in the folder, files the listing leaves out (a link out of the folder, an unreadable
    /// file: with the listing's reason), weights, too many, duplicates, files that are no usable LoRA.
    /// The server keeps serving, and a good job still runs.
    func testBadLoRAChoicesGet400WithAMessage() async throws {
        let dir = try folder()
        let outside = TestConsole.freshOutputDirectory()
        folders.append(outside)
        try TinyLoRA.write(to: outside + "/secret.safetensors")
        try FileManager.default.createSymbolicLink(atPath: dir + "/escape.safetensors", withDestinationPath: outside + "/secret.safetensors")
        try TinyLoRA.writeUnmapped(to: dir + "/unmapped.safetensors")
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: dir + "/broken.safetensors"))
        let console = try await start(loras: dir)
        let ok: [String: Any] = ["prompt": "x", "steps": 1, "width": 32, "height": 32]
        func with(_ loras: Any) -> [String: Any] { ok.merging(["loras": loras]) { $1 } }
        func one(_ name: Any, _ weight: Any = 1) -> [String: Any] { with([["name": name, "weight": weight]]) }
        let notAPath = "must be the name of a file in the LoRA folder as GET /api/loras lists it, not a path"
        let cases: [(String, [String: Any], String)] = [
            ("not a list", with("outline"), "loras must be a list of {\"name\": ..., \"weight\": ...} objects, got \"outline\""),
            ("entry not an object", with([5]), "loras[0] must be an object"),
            ("no name", with([["weight": 1]]), "loras[0].name is missing"),
            ("name not text", one(7), "loras[0].name must be a string, got 7"),
            ("parent", one("../outline"), notAPath),
            ("parent only", one(".."), notAPath),
            ("subfolder", one("sub/outline"), notAPath),
            ("absolute", one("/etc/passwd"), notAPath),
            ("backslash", one("..\\outline"), notAPath),
            ("backslash inside", one("a\\b"), notAPath),
            ("NUL", one("outline\u{0}"), notAPath),
            ("hidden", one(".outline"), notAPath),
            ("colon", one("outline:2"), notAPath),
            ("empty name", one(""), notAPath),
            ("with suffix", one("outline.safetensors"), "no LoRA named \"outline.safetensors\""),
            ("unknown", one("nope"), "no LoRA named \"nope\": the LoRA folder has \"outline\", \"unmapped\""),
            ("link out of the folder", one("escape"), "the LoRA \"escape\" cannot be used: a link that leads outside the LoRA folder"),
            ("unreadable file", one("broken"), "loras[0].name: the LoRA \"broken\" cannot be used: not a readable safetensors file"),
            ("weight text", one("outline", "heavy"), "loras[0].weight must be a number, got \"heavy\""),
            ("weight too big", one("outline", 11), "loras[0].weight must be between -10 and 10, got 11"),
            ("weight too small", one("outline", -10.5), "loras[0].weight must be between -10 and 10, got -10.5"),
            ("weight overflows", one("outline", "1e300"), "loras[0].weight must be a finite number between -10 and 10"),
            ("weight null is 1, second bad", with([["name": "outline", "weight": NSNull()], ["name": "nope"]]), "loras[1].name: no LoRA named \"nope\""),
            ("duplicate", with([["name": "outline", "weight": 0.5], ["name": "outline", "weight": 0.5]]), "loras[1]: \"outline\" is already loras[0]"),
            ("too many", with((0..<9).map { ["name": "l\($0)"] }), "loras has 9 entries; a job may use at most 8 LoRAs"),
            ("not a usable LoRA", one("unmapped"), "loras[0].name: the LoRA \"unmapped\" cannot be used: LoRA unmapped: 2 key(s) match no layer"),
        ]
        for (name, body, message) in cases {
            let r = try await console.post("/api/jobs", json: body)
            XCTAssertEqual(r.status, 400, "\(name): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(name): \(r.text)")
        }
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(jobs?.count, 0, "no bad job was queued")
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
        let good = try await run(console, with([["name": "outline", "weight": "0.5"]]).merging(["seed": 9]) { $1 })
        XCTAssertEqual(good["status"] as? String, "done", "\(good)")
        XCTAssertEqual(loras(good["parameters"]), ["outline:0.5"])

        // A LoRA made for a larger model is listed and accepted, but its job fails naming the layer and
        // both shapes; the next job runs as before.
        try SafeTensorsWriter.write([("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", TorchGenerator(seed: 1).randn([2, 3072])),
                                     ("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", TorchGenerator(seed: 2).randn([9216, 2]))],
                                    to: dir + "/big.safetensors")
        let big = try await run(console, one("big"))
        XCTAssertEqual(big["status"] as? String, "failed", "\(big)")
        let why = big["error"] as? String ?? ""
        XCTAssertTrue(why.contains("LoRA big was made for another model: layer double_blocks.0.img_attn.qkv is 96x32 here, the LoRA's update is 9216x3072"), why)
        let next = try await run(console, with([["name": "outline", "weight": "0.5"]]).merging(["seed": 9]) { $1 })
        XCTAssertEqual(next["status"] as? String, "done", "\(next)")
        let (first, second) = (try await console.get(good["image"] as! String), try await console.get(next["image"] as! String))
        XCTAssertTrue(try PNG.decode(Array(first.body)).image.pixels == PNG.decode(Array(second.body)).image.pixels, "the pipeline kept no trace of the failed LoRA")

        // A server without a LoRA folder takes no LoRAs, and says how to give it some.
        let none = try await start(loras: nil)
        let refused = try await none.post("/api/jobs", json: one("outline"))
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue((refused.json["error"] as? String ?? "").contains("this server has no LoRA folder (start it with --lora-dir DIR)"), refused.text)
        let plain = try await none.post("/api/jobs", json: with([Any]()))
        XCTAssertEqual(plain.status, 202, plain.text)
    }

    /// A job with a LoRA: the LoRA changes the picture; the PNG's parameters carry
    /// `<lora:outline:0.8>` after the prompt and the file's hash; the snapshot and the history entry
    /// keep name and weight; the next job without LoRAs gets the picture without (nothing stays
    /// attached), and the same LoRA again gives the same pixels. Rebuilt from the PNGs (the index
    /// gone), the entries keep their LoRAs, from our JSON chunk or, without it, from the infotext.
    func testJobWithALoRAIsRecordedAndItsHistoryRoundTrips() async throws {
        let dir = try folder()
        let console = try await start(loras: dir)
        let job: [String: Any] = ["prompt": "a red circle", "seed": 42, "steps": 2, "width": 64, "height": 48]
        let plain = try await run(console, job)
        let submitted = try await console.submit(job.merging(["loras": [["name": "outline", "weight": 0.8]]]) { $1 })
        XCTAssertEqual(loras(submitted["parameters"]), ["outline:0.8"], "the snapshot shows the LoRAs from the start")
        let styledEvents = try await console.events(submitted["id"] as! String)
        let styled = try XCTUnwrap(styledEvents.last?.data)
        XCTAssertEqual(styled["status"] as? String, "done", "\(styled)")
        XCTAssertEqual(loras(styled["parameters"]), ["outline:0.8"])
        XCTAssertEqual(loras((styled["history"] as? [String: Any])?["parameters"]), ["outline:0.8"])
        let after = try await run(console, job)
        let again = try await run(console, job.merging(["loras": [["name": "outline", "weight": 0.8]]]) { $1 })
        XCTAssertEqual(loras(after["parameters"]), [], "no LoRAs asked for, none used")

        func png(_ snapshot: [String: Any]) async throws -> (pixels: [UInt8], text: [String: String]) {
            let decoded = try PNG.decode(Array(try await console.get(snapshot["image"] as! String).body))
            return (decoded.image.pixels, Dictionary(decoded.text.map { ($0.key, $0.value) }) { a, _ in a })
        }
        let (p0, s, p1, p2) = (try await png(plain), try await png(styled), try await png(after), try await png(again))
        XCTAssertTrue(p0.pixels != s.pixels, "the LoRA changes the picture")
        XCTAssertTrue(p1.pixels == p0.pixels, "the next job without LoRAs paints as before: nothing stayed attached")
        XCTAssertTrue(p2.pixels == s.pixels, "the same LoRA and weight paint the same picture")
        let infotext = try XCTUnwrap(s.text["parameters"])
        XCTAssertTrue(infotext.hasPrefix("a red circle <lora:outline:0.8>\n"), infotext)
        let hash = try TinyLoRA.shortHash(dir + "/outline.safetensors")
        XCTAssertTrue(infotext.contains("Lora hashes: \"outline: \(hash)\", "), "\(hash): \(infotext)")
        XCTAssertFalse(p0.text["parameters"]?.contains("lora") ?? true)
        let request = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(s.text["majicflux"]!.utf8)) as? [String: Any])
        XCTAssertEqual(request["prompt"] as? String, "a red circle")
        // The request chunk holds the weight as a double of the Float used (0.800000011920929).
        let recordedLoRAs = request["loras"] as? [[String: Any]] ?? []
        XCTAssertEqual(recordedLoRAs.map { $0["name"] as? String }, ["outline"])
        XCTAssertEqual(recordedLoRAs.map { ($0["weight"] as? Double).map { Float($0) } }, [Float(0.8)])

        // A copy of the LoRA picture that kept only the A1111 parameters (as other tools write them).
        let decoded = try PNG.decode(Array(try await console.get(styled["image"] as! String).body))
        let infotextOnly = try PNG.encode(decoded.image, text: [(key: "parameters", value: infotext)])
        try Data(infotextOnly).write(to: URL(fileURLWithPath: console.outputDirectory + "/00009-42.png"))

        await console.stop()
        try TestConsole.removeDatabase(in: console.outputDirectory)
        let rebuilt = try await start(loras: dir, outputDirectory: console.outputDirectory)
        let items = try await rebuilt.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.map { $0["file"] as? String }, ["00009-42.png", "00004-42.png", "00003-42.png", "00002-42.png", "00001-42.png"])
        XCTAssertEqual(items.map { loras($0["parameters"]) }, [["outline:0.8"], ["outline:0.8"], [], ["outline:0.8"], []])
        for item in items {
            XCTAssertEqual((item["parameters"] as? [String: Any])?["prompt"] as? String, "a red circle", "no <lora:...> tag left in the prompt")
        }
        let fromInfotext = try XCTUnwrap(items.first?["parameters"] as? [String: Any])
        XCTAssertEqual([fromInfotext["steps"] as? Int, fromInfotext["width"] as? Int, fromInfotext["height"] as? Int, fromInfotext["seed"] as? Int], [2, 64, 48, 42])
        XCTAssertEqual(items.first?["model"] as? String, "tiny-flux")
        // Reusing a rebuilt entry's parameters runs the same picture again.
        let parameters = try XCTUnwrap(items[1]["parameters"] as? [String: Any])
        let redo = try await run(rebuilt, ["prompt": parameters["prompt"]!, "seed": parameters["seed"]!, "steps": parameters["steps"]!,
                                           "width": parameters["width"]!, "height": parameters["height"]!, "loras": parameters["loras"]!])
        let redone = try await rebuilt.get(redo["image"] as! String)
        XCTAssertTrue(try PNG.decode(Array(redone.body)).image.pixels == s.pixels, "the rebuilt entry reproduces its picture")
    }
}
