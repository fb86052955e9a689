import Foundation
import MajicFluxApp
import Tensor
import XCTest

/// The JSON API's input pictures (#18): base64 fields, data URLs and multipart uploads reach the job;
/// the history keeps the pictures beside the output (served, recorded, deleted with it); the model's
/// conditioning kind is in `/api/status`; every bad or hostile upload is a 4xx naming the problem.
final class ConsoleConditioningTests: XCTestCase {
    private var consoles: [TestConsole] = []

    override func tearDown() async throws {
        for c in consoles { await c.stop() }
        consoles.removeAll()
    }

    private func start(_ adjust: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestConsole {
        var c = try TestConsole.configuration(outputDirectory: TestConsole.freshOutputDirectory())
        c.imageLimits.maxImageBytes = 64 * 1024
        c.imageLimits.maxUploadBytes = 512 * 1024
        c.imageLimits.maxInputPixels = 512 * 512
        adjust(&c)
        let console = try await TestConsole.start(configuration: c)
        consoles.append(console)
        return console
    }

    private func base64(_ p: PNGImage) throws -> String { Data(try TestPictures.png(p)).base64EncodedString() }

    /// A multipart body: text fields, then files, with `boundary`.
    private func multipart(_ fields: [(String, String)], files: [(String, [UInt8])], boundary: String = "XyZ-boundary-42") -> Data {
        var body = Data()
        for (name, value) in fields {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        for (name, bytes) in files {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(name).png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            body += Data(bytes) + Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return body
    }

    private func finished(_ console: TestConsole, _ snapshot: [String: Any]) async throws -> [String: Any] {
        let id = try XCTUnwrap(snapshot["id"] as? String)
        let done = try await console.waitForJob(id) { ($0["status"] as? String).map { ["done", "failed", "cancelled"].contains($0) } ?? false }
        XCTAssertEqual(done["status"] as? String, "done", "\(done)")
        return try XCTUnwrap(done["history"] as? [String: Any])
    }

    /// `/api/status` says which pictures the model takes and the upload limits.
    func testStatusReportsConditioningKindAndLimits() async throws {
        let console = try await start()
        let s = try await console.get("/api/status").json
        XCTAssertEqual((s["defaults"] as? [String: Any])?["conditioning"] as? String, "base")
        let limits = try XCTUnwrap(s["limits"] as? [String: Any])
        XCTAssertEqual(limits["max_image_bytes"] as? Int, 64 * 1024)
        XCTAssertEqual(limits["max_upload_bytes"] as? Int, 512 * 1024)
        XCTAssertEqual(limits["max_input_pixels"] as? Int, 512 * 512)
    }

    /// Base64 image + mask in JSON: the job records them (sizes, mode, strength), the size comes from
    /// the image, the history stores both pictures as PNGs beside the output — served, byte-identical
    /// in pixels — and the output's chunks record the conditioning. Deleting the entry removes all three.
    func testBase64PicturesAreStoredWithTheHistoryAndDeletedWithIt() async throws {
        let console = try await start()
        // Without width and height the job takes the picture's size floored to 16 (48x40 -> 48x32).
        let odd = try await console.submit(["prompt": "a red circle", "steps": 1, "image": try base64(try TestPictures.image(width: 48, height: 40))])
        let o = try XCTUnwrap(odd["parameters"] as? [String: Any])
        XCTAssertEqual([o["width"] as? Int, o["height"] as? Int], [48, 32])
        // The picture is resized to it (Lanczos) and the job finishes.
        let oddHistory = try await finished(console, odd)
        let oddFile = try XCTUnwrap(oddHistory["file"] as? String)
        let image = try TestPictures.image(width: 48, height: 32), mask = try TestPictures.mask(width: 48, height: 32)
        let snap = try await console.submit(["prompt": "a red circle", "steps": 1, "seed": 9,
                                             "image": try base64(image), "mask": "data:image/png;base64," + (try base64(mask)),
                                             "strength": 0.8, "mask_blur": 2])
        let p = try XCTUnwrap(snap["parameters"] as? [String: Any])
        XCTAssertEqual(p["width"] as? Int, 48)
        XCTAssertEqual(p["height"] as? Int, 32)
        let c = try XCTUnwrap(p["conditioning"] as? [String: Any])
        XCTAssertEqual(c["mode"] as? String, "inpaint")
        XCTAssertEqual(c["strength"] as? Double, 0.8)
        XCTAssertEqual(c["mask_blur"] as? Int, 2)
        let history = try await finished(console, snap)
        let inputs = try XCTUnwrap(((history["parameters"] as? [String: Any])?["conditioning"] as? [String: Any])?["inputs"] as? [String: [String: Any]])
        XCTAssertEqual(Set(inputs.keys), ["image", "mask"])
        for (role, sent) in [("image", image), ("mask", mask)] {
            let url = try XCTUnwrap(inputs[role]?["url"] as? String)
            let file = try XCTUnwrap(inputs[role]?["file"] as? String)
            XCTAssertEqual(url, "/images/" + file)
            let served = try await console.get(url)
            XCTAssertEqual(served.status, 200, "\(role): \(served.text)")
            XCTAssertEqual(try PNG.decode(Array(served.body)).image, sent, "the stored \(role) is the picture sent")
        }
        let output = try await console.get(try XCTUnwrap(history["url"] as? String))
        let text = try PNG.decode(Array(output.body)).text
        let infotext = text.first { $0.key == "parameters" }?.value ?? ""
        XCTAssertTrue(infotext.contains("Denoising strength: 0.8, Mask blur: 2"), infotext)
        XCTAssertTrue(text.first { $0.key == "majicflux" }?.value.contains(#""conditioning""#) ?? false)

        let file = try XCTUnwrap(history["file"] as? String)
        let deleted = try await console.send("DELETE", "/api/history/" + file)
        XCTAssertEqual(deleted.status, 200, deleted.text)
        for name in [file] + inputs.values.compactMap({ $0["file"] as? String }) {
            XCTAssertFalse(FileManager.default.fileExists(atPath: console.outputDirectory + "/" + name), name)
            let gone = try await console.get("/images/" + name)
            XCTAssertEqual(gone.status, 404, name)
        }
        let list = try await console.get("/api/history").json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(list.map { $0["file"] as? String }, [oddFile], "only the other job's entry is left")
        let again = try await console.send("DELETE", "/api/history/" + file)
        XCTAssertEqual(again.status, 404)
    }

    /// A WebP picture (lossless here, so the stored PNG must hold exactly its pixels) is an input like
    /// a PNG or a JPEG.
    func testAWebPPictureIsAnInput() async throws {
        let console = try await start()
        let picture = try TestPictures.image(width: 48, height: 32, seed: 4)
        let webp = try WebP.encode(picture, lossless: true)
        let snap = try await console.submit(["prompt": "a red circle", "steps": 1, "seed": 2,
                                             "image": "data:image/webp;base64," + Data(webp).base64EncodedString(), "strength": 0.5])
        XCTAssertEqual([(snap["parameters"] as? [String: Any])?["width"] as? Int, (snap["parameters"] as? [String: Any])?["height"] as? Int], [48, 32])
        let history = try await finished(console, snap)
        let inputs = try XCTUnwrap(((history["parameters"] as? [String: Any])?["conditioning"] as? [String: Any])?["inputs"] as? [String: [String: Any]])
        let served = try await console.get(try XCTUnwrap(inputs["image"]?["url"] as? String))
        XCTAssertEqual(try PNG.decode(Array(served.body)).image, picture, "the WebP's pixels, kept as PNG")
    }

    /// Multipart: a `request` JSON part with file parts, and plain form fields with file parts.
    /// A restart without the index recovers the entry with its pictures from the output's chunk.
    func testMultipartUploadsReachTheJob() async throws {
        let directory = TestConsole.freshOutputDirectory()
        let console = try await start { $0.outputDirectory = directory }
        let image = try TestPictures.image(width: 32, height: 32)
        let body = multipart([("request", #"{"prompt": "a red circle", "steps": 1, "outpaint": [16, 0, 0, 0]}"#)],
                             files: [("image", try TestPictures.png(image))])
        let r = try await console.send("POST", "/api/jobs", body: body, contentType: "multipart/form-data; boundary=XyZ-boundary-42")
        XCTAssertEqual(r.status, 202, r.text)
        let p = try XCTUnwrap(r.json["parameters"] as? [String: Any])
        XCTAssertEqual([p["width"] as? Int, p["height"] as? Int], [48, 32], "the grown canvas")
        XCTAssertEqual((p["conditioning"] as? [String: Any])?["outpaint"] as? [Int], [16, 0, 0, 0])
        let history = try await finished(console, r.json)

        let fields = multipart([("prompt", "a red circle"), ("steps", "1"), ("strength", "0.5"), ("width", ""), ("outpaint", "0,0,16,16")],
                               files: [("image", try TestPictures.png(image)), ("thumbnail", try TestPictures.png(image))],
                               boundary: "----WebKitFormBoundary7MA4YWxk")  // a file under a name the API does not read: ignored
        let f = try await console.send("POST", "/api/jobs", body: fields, contentType: "multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxk\"")
        XCTAssertEqual(f.status, 202, f.text)
        let fc = try XCTUnwrap((f.json["parameters"] as? [String: Any])?["conditioning"] as? [String: Any])
        XCTAssertEqual(fc["strength"] as? Double, 0.5)
        XCTAssertEqual(fc["outpaint"] as? [Int], [0, 0, 16, 16])
        _ = try await finished(console, f.json)

        await console.stop()
        consoles.removeAll()
        try TestConsole.removeDatabase(in: directory)
        let restarted = try await start { $0.outputDirectory = directory }
        let list = try await restarted.get("/api/history").json
        let items = try XCTUnwrap(list["items"] as? [[String: Any]])
        XCTAssertEqual(items.count, 2, "the input PNGs are not listed as pictures of their own")
        let recovered = try XCTUnwrap(items.first { $0["file"] as? String == history["file"] as? String })
        let inputs = ((recovered["parameters"] as? [String: Any])?["conditioning"] as? [String: Any])?["inputs"] as? [String: [String: Any]]
        let url = try XCTUnwrap(inputs?["image"]?["url"] as? String)
        let served = try await restarted.get(url)
        XCTAssertEqual(try PNG.decode(Array(served.body)).image, image)
    }

    /// Bad values and pictures: 400 naming the field; too large: 413.
    func testBadPicturesAndOptionsAreRefused() async throws {
        let console = try await start()
        let image = try base64(try TestPictures.image(width: 32, height: 32))
        let small = try base64(try TestPictures.mask(width: 16, height: 16))
        let huge = try TestPictures.image(width: 200, height: 200, seed: 5)
        var noisy = huge.pixels
        var g = SeededRandom(seed: 3)
        for i in noisy.indices { noisy[i] = UInt8(truncatingIfNeeded: g.next()) }  // incompressible: > 64 KiB as PNG
        let big = Data(try PNG.encode(try PNGImage(width: 200, height: 200, channels: 3, pixels: noisy))).base64EncodedString()
        let bomb = Data(TestPictures.bombHeader(width: 60_000, height: 60_000)).base64EncodedString()
        let cases: [([String: Any], Int, String)] = [
            (["image": "%%%not base64%%%"], 400, "image is not valid base64"),
            (["image": "data:image/png,rawtext"], 400, "image is a data URL without ';base64,'"),
            (["image": Data("hello".utf8).base64EncodedString()], 400, "image is not a PNG, JPEG or WebP picture"),
            (["image": 12], 400, "image must be a picture as base64 text"),
            (["image": image, "mask": small], 400, "mask is 16x16 but the input image is 32x32"),
            (["mask": image], 400, "mask needs an input image"),
            (["image": image, "strength": 2], 400, "strength must be above 0 and at most 1, got 2.0"),
            (["strength": 0.5], 400, "strength needs an input picture"),
            (["image": image, "mask_blur": -1], 400, "mask_blur must be between 0 and 256"),
            (["image": image, "outpaint": [1, 2]], 400, "outpaint must be [left, top, right, bottom]"),
            (["image": image, "outpaint": [0, 0, 0, 0]], 400, "outpaint margins are all 0"),
            (["control": image], 400, "control does not apply: FLUX.1-dev is no control model"),
            (["reference": image], 400, "reference does not apply: FLUX.1-dev is no Kontext model"),
            (["control": image, "control_preprocess": ["sobel": 1]], 400, "control_preprocess must be {\"canny\": [low, high]}"),
            (["reference": image, "reference_resize": "big"], 400, "reference_resize must be \"auto\" or \"off\""),
            (["image": big], 413, "more than this server's limit of 65536 bytes per picture"),
            (["image": bomb], 413, "image is 60000x60000, more than the 262144 pixels"),
        ]
        for (fields, status, message) in cases {
            var job: [String: Any] = ["prompt": "x", "steps": 1]
            job.merge(fields) { $1 }
            let r = try await console.post("/api/jobs", json: job)
            XCTAssertEqual(r.status, status, "\(fields.keys.sorted()): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(fields.keys.sorted()): expected \"\(message)\" in \(r.text)")
        }
        // The text of a job beyond max_body_bytes is refused even when the body carries pictures.
        let long = try await console.post("/api/jobs", json: ["prompt": String(repeating: "a", count: 20_000), "image": image])
        XCTAssertEqual(long.status, 413, long.text)
        XCTAssertTrue(long.text.contains("not counting its pictures"), long.text)
        let jobs = try await console.get("/api/jobs").json["jobs"] as? [Any]
        XCTAssertEqual(jobs?.count, 0, "no refused job was queued")
    }

    /// Hostile multipart bodies: each a 4xx with a message, quickly, and the server keeps answering.
    func testHostileMultipartBodiesAre4xx() async throws {
        let console = try await start()
        let png = try TestPictures.png(try TestPictures.image(width: 32, height: 32))
        let good = multipart([("prompt", "x"), ("steps", "1")], files: [("image", png)])
        let type = "multipart/form-data; boundary=XyZ-boundary-42"
        let cut = good.prefix(good.count - 30)
        let noHeaderEnd = Data("--XyZ-boundary-42\r\nContent-Disposition: form-data; name=\"prompt\"\r\n".utf8) + Data(repeating: 65, count: 6000)
        let cases: [(Data, String, Int, String)] = [
            (good, "multipart/form-data", 400, "without a boundary"),
            (good, "multipart/form-data; boundary=", 400, "boundary must be 1 to 70"),
            (good, "multipart/form-data; boundary=" + String(repeating: "b", count: 71), 400, "boundary must be 1 to 70"),
            (good, "multipart/form-data; boundary=other", 400, "does not contain its boundary"),
            (Data(cut), type, 400, "cut short"),
            (noHeaderEnd, type, 400, "no end to its headers"),
            (Data("--XyZ-boundary-42\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ-boundary-42--".utf8), type, 400, "no Content-Disposition name"),
            (multipart([("prompt", "x"), ("prompt", "y")], files: []), type, 400, "two parts named \"prompt\""),
            (multipart([("request", "{not json")], files: []), type, 400, "\"request\" is not valid JSON"),
            (multipart([("prompt", "x")], files: [("image", Array(repeating: 0x41, count: 70_000))]), type, 413, "per picture"),
            (multipart([("prompt", "x")], files: [("mask", png)]), type, 400, "mask needs an input image"),
            (multipart([("prompt", "x")], files: [("steps", png)]), type, 400, "field \"steps\" is not UTF-8 text"),
        ]
        for (body, contentType, status, message) in cases {
            let started = Date()
            let r = try await console.send("POST", "/api/jobs", body: body, contentType: contentType)
            XCTAssertEqual(r.status, status, "\(message): \(r.text)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "expected \"\(message)\" in \(r.text)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, message)
        }
        // More than the upload limit: 413 from Content-Length alone.
        let over = try await console.send("POST", "/api/jobs", body: Data(repeating: 0x2D, count: 600 * 1024), contentType: type)
        XCTAssertEqual(over.status, 413, over.text)
        // A browser on another site cannot post the form (Sec-Fetch-Site), whatever Origin it claims.
        let raw = "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(type)\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\nContent-Length: \(good.count)\r\n\r\n"
        let cross = try console.exchange(Array(raw.utf8) + Array(good))
        XCTAssertEqual(cross.status, 403, cross.text)
        let alive = try await console.get("/api/status")
        XCTAssertEqual(alive.status, 200)
    }
}
