import Foundation
import Hummingbird
import Models
import Tensor

/// The A1111 (stable-diffusion-webui) API that Forge, stable-diffusion.cpp and Draw Things also
/// speak, under `/sdapi/v1/` (docs/API.md, "A1111-compatible API"). Its jobs go through the same
/// queue as the console's: they show in the page's queue and their pictures in the history.
extension ConsoleServer {
    func addA1111Routes(to router: Router<ConsoleRequestContext>) {
        let activity = A1111Activity()
        let parser = JobRequestParser(configuration: configuration, model: host.preset)
        let images = JobImages(limits: configuration.imageLimits)
        let uploadLimit = max(configuration.maxBodyBytes, configuration.imageLimits.maxUploadBytes)
        let api = router.group("/sdapi/v1")

        func handle(_ body: @escaping @Sendable (Request) async throws -> Response) -> @Sendable (Request, ConsoleRequestContext) async throws -> Response {
            { request, _ in
                do { return try await body(request) } catch { return A1111Error.response(for: error) }
            }
        }

        for (path, img2img) in [("txt2img", false), ("img2img", true)] {
            api.post(RouterPath(path), use: handle { request in
                let o = try await self.a1111Body(request, limit: uploadLimit)
                // A picture from another model than the one asked for would be wrong without a word.
                try self.a1111CheckCheckpoint(o["override_settings"]?.object?["sd_model_checkpoint"], field: "override_settings.sd_model_checkpoint")
                let job = try A1111Request(o, img2img: img2img, parser: parser, images: images,
                                           maxPictures: max(1, self.configuration.maxQueuedJobs))
                return try await self.a1111Generate(job, body: o, activity: activity)
            })
        }
        api.get("progress", use: handle { request in
            let skipImage = request.uri.queryParameters.get("skip_current_image").map { $0 == "true" || $0 == "1" } ?? false
            return A1111Error.json(await self.a1111Progress(activity, skipImage: skipImage))
        })
        api.post("interrupt", use: handle { _ in
            await self.a1111Stop(activity, wholeBatch: true)
            return A1111Error.json(.object([:]))
        })
        api.post("skip", use: handle { _ in
            await self.a1111Stop(activity, wholeBatch: false)
            return A1111Error.json(.null)
        })
        api.get("sd-models", use: handle { _ in
            A1111Error.json(.array([.object([
                "title": .string(self.a1111ModelTitle), "model_name": .string(self.host.name),
                "hash": self.host.modelHash.map(JSONValue.string) ?? .null, "sha256": self.host.modelSHA256.map(JSONValue.string) ?? .null,
                "filename": .string(self.configuration.files.transformer), "config": .null,
            ])]))
        })
        api.get("loras", use: handle { _ in
            let listing = self.loras.list()
            return A1111Error.json(.array(listing.loras.map { l in
                .object(["name": .string(l.name), "alias": .string(l.title),
                         "path": .string((listing.directory ?? "") + "/" + l.name + LoRALibrary.suffix),
                         "metadata": .object(["rank": .int(l.rank), "trigger_words": .array(l.trigger_words.map(JSONValue.string))])])
            }))
        })
        api.get("samplers", use: handle { _ in
            A1111Error.json(.array([.object(["name": .string("Euler"), "aliases": .array([.string("k_euler")]), "options": .object([:])])]))
        })
        api.get("schedulers", use: handle { _ in
            A1111Error.json(.array([.object(["name": .string("simple"), "label": .string("Simple"), "aliases": .null,
                                             "default_rho": .int(-1), "need_inner_model": .bool(false)])]))
        })
        api.get("options", use: handle { _ in A1111Error.json(.object(activity.options(over: self.a1111DefaultOptions))) })
        api.post("options", use: handle { request in
            let o = try await self.a1111Body(request, limit: self.configuration.maxBodyBytes)
            try self.a1111CheckCheckpoint(o["sd_model_checkpoint"], field: "sd_model_checkpoint")
            if let v = o["samples_format"], !v.isNull {
                guard let f = v.string?.lowercased(), ["png", "jpg", "jpeg", "webp"].contains(f) else {
                    throw A1111Error.invalid("samples_format", "this server answers with png, jpg or webp pictures, got \(JobRequestParser.shown(v))")
                }
            }
            if let v = o["jpeg_quality"], !v.isNull {
                guard let q = v.int, (1...100).contains(q) else {
                    throw A1111Error.invalid("jpeg_quality", "jpeg_quality must be an integer from 1 to 100, got \(JobRequestParser.shown(v))")
                }
            }
            // Like A1111, keys it does not know are ignored; known ones are kept and shown by GET.
            // A null leaves an option as it was (GET never shows null where A1111 has a value).
            let known = self.a1111DefaultOptions
            activity.setOptions(o.filter { known[$0.key] != nil && !$0.value.isNull && $0.key != "sd_model_checkpoint" && $0.key != "sd_checkpoint_hash" })
            return A1111Error.json(.null)
        })
        addA1111CatalogRoutes(to: api, handle: handle)
        for (path, batch) in [("extra-single-image", false), ("extra-batch-images", true)] {
            api.post(RouterPath(path), use: handle { request in
                let o = try await self.a1111Body(request, limit: uploadLimit, pictureFields: ["image"])
                return A1111Error.json(try self.a1111Extras(o, batch: batch, images: images, activity: activity))
            })
        }
        api.post("png-info", use: handle { request in
            let o = try await self.a1111Body(request, limit: uploadLimit, pictureFields: ["image"])
            return A1111Error.json(try A1111PNGInfo.answer(o, images: images))
        })
    }

    /// The extras' answer: `image` (or `images` for a batch's `imageList` of {data, name}) in the
    /// `samples_format` option's format, and `html_info` (A1111Extras.swift).
    func a1111Extras(_ o: [String: JSONValue], batch: Bool, images: JobImages, activity: A1111Activity) throws -> JSONValue {
        let settings = try A1111Extras.settings(o)
        var inputs: [(field: String, text: String)] = []
        if batch {
            guard let list = o["imageList"]?.array, !list.isEmpty else {
                throw A1111Error.invalid("imageList", "imageList must be a list of at least one {\"data\": base64, \"name\": ...} picture")
            }
            guard list.count <= 16 else { throw A1111Error.invalid("imageList", "at most 16 pictures per request, got \(list.count)") }
            for (i, item) in list.enumerated() {
                guard let data = item.object?["data"]?.string else { throw A1111Error.invalid("imageList", "imageList[\(i)].data must be a picture as base64 text") }
                inputs.append(("imageList[\(i)]", data))
            }
        } else {
            guard let text = try A1111Request.string(o, "image"), !text.isEmpty else {
                throw A1111Error.invalid("image", "image is missing: send the picture as base64 text or a data URL")
            }
            inputs.append(("image", text))
        }
        let options = activity.options(over: a1111DefaultOptions)
        let format = options["samples_format"]?.string?.lowercased() ?? "png"
        let lossy: PictureOutput? = ["jpg", "jpeg"].contains(format) ? .jpeg : format == "webp" ? .webp : nil
        var encoded: [JSONValue] = [], info = ""
        for (field, text) in inputs {
            let bytes: [UInt8], picture: PNGImage
            do {
                bytes = try images.base64(text, field: field)
                picture = try images.picture(bytes, field: field)
            } catch let e as APIError {
                throw A1111Error(status: e.status == .badRequest ? .unprocessableContent : e.status, message: e.message, field: e.status == .badRequest ? field : nil)
            }
            let result = try A1111Extras.run(picture, settings, maxPixels: configuration.maxPixels)
            info = result.info
            // As A1111: the input's text (its parameters) kept, the extras' fields added as `postprocessing`.
            var chunks = ((try? PictureText.read(bytes))??.chunks ?? []).filter { $0.key != "postprocessing" }
            if !info.isEmpty { chunks.append(("postprocessing", info)) }
            let png = try result.picture.pngData(text: chunks)
            let parameters = chunks.first { $0.key == "parameters" }?.value ?? ""
            let out = try lossy.map { try Self.a1111Encoded(png, as: $0, quality: options["jpeg_quality"]?.int ?? 80, infotext: parameters) } ?? png
            encoded.append(.string(Data(out).base64EncodedString()))
        }
        let html = JSONValue.string(A1111Extras.html(info))
        return batch ? .object(["html_info": html, "images": .array(encoded)]) : .object(["html_info": html, "image": encoded[0]])
    }

    /// "name [hash]" as A1111 titles a checkpoint (just the name while the hash is being computed).
    var a1111ModelTitle: String { host.modelHash.map { "\(host.name) [\($0)]" } ?? host.name }

    /// A checkpoint a request asks for (`/options`, a generation's `override_settings`) must be the
    /// served model, by title, name or hash: 422 naming `field` otherwise (one model per server).
    func a1111CheckCheckpoint(_ v: JSONValue?, field: String) throws {
        guard let v, !v.isNull else { return }
        guard let name = v.string, [a1111ModelTitle, host.name].contains(name)
                || [host.modelHash, host.modelSHA256].contains(where: { $0 == name }) else {
            throw A1111Error.invalid(field, "this server serves one model, \"\(a1111ModelTitle)\" (GET /sdapi/v1/sd-models); "
                                     + "it cannot switch to \(JobRequestParser.shown(v))")
        }
    }

    /// The options GET /options shows: the served model and A1111 settings readers look for, with
    /// this server's fixed values.
    var a1111DefaultOptions: [String: JSONValue] {
        [
            "sd_model_checkpoint": .string(a1111ModelTitle),
            "sd_checkpoint_hash": host.modelSHA256.map(JSONValue.string) ?? .null,  // A1111 keeps the whole SHA-256 here
            "samples_format": .string("png"),
            "jpeg_quality": .int(80),
            "CLIP_stop_at_last_layers": .int(1),
            "sd_vae": .string("Automatic"),
            "outdir_samples": .string(configuration.outputDirectory),
            "save_images_add_number": .bool(true),
            "enable_pnginfo": .bool(true),
            "forge_preset": .string("flux"),
            "forge_additional_modules": .array([]),
        ]
    }

    /// A JSON object body (FastAPI answers 422 for anything else), at most `limit` bytes; beyond
    /// `--max-body-bytes` only by its pictures (`init_images`, `mask`, and `pictureFields`).
    func a1111Body(_ request: Request, limit: Int, pictureFields: [String] = []) async throws -> [String: JSONValue] {
        // JSON only, as FastAPI reads these bodies: a form or text body (what a cross-site page can
        // send without asking) is refused, whatever it holds.
        let type = request.headers[.contentType] ?? ""
        guard Self.isJSON(contentType: type) else {
            throw A1111Error(status: .unprocessableContent, message: "send the body as JSON with Content-Type: application/json "
                             + "(got \(type.isEmpty ? "none" : String(type.prefix(100))))", field: "body")
        }
        let bytes = try await self.collect(request, limit: limit)
        let json: JSONValue
        do { json = try JSONValue.parse(bytes, maxDepth: 32, largeIntegersAsText: true) } catch {
            throw A1111Error(status: .unprocessableContent, message: "the request body is not valid JSON: \(error)", field: "body")
        }
        guard let o = json.object else { throw A1111Error(status: .unprocessableContent, message: "the request body must be a JSON object", field: "body") }
        let pictureText = (o["init_images"]?.array ?? []).reduce(0) { $0 + ($1.string?.utf8.count ?? 0) }
            + (["mask"] + pictureFields).reduce(0) { $0 + (o[$1]?.string?.utf8.count ?? 0) }
            + (o["imageList"]?.array ?? []).reduce(0) { $0 + ($1.object?["data"]?.string?.utf8.count ?? 0) }
        if bytes.count - pictureText > configuration.maxBodyBytes { throw JobRequestParser.tooLarge(configuration.maxBodyBytes) }
        return o
    }

    /// A1111's `extra_generation_params` of a picture: the hires fix's fields, numbers as numbers.
    static func extraParameters(_ r: GenerationRequest) -> [String: JSONValue] {
        var o: [String: JSONValue] = [:]
        for (key, value) in r.hires?.infotextFields ?? [] {
            o[key] = Int(value).map(JSONValue.int) ?? Double(value).map(JSONValue.double) ?? .string(value)
        }
        return o
    }

    /// Queues the pictures, waits for them, and answers as A1111 does: base64 PNGs, the parameters,
    /// and `info` (a JSON string) whose `infotexts` are the pictures' own `parameters` text.
    func a1111Generate(_ job: A1111Request, body: [String: JSONValue], activity: A1111Activity) async throws -> Response {
        // A front end without workers of its own, and no worker serving the model connected: the
        // request would wait for pictures that nobody makes (an A1111 client blocks on it).
        if workers.isEmpty {
            let model = await modelStatus(workers: await workerStatuses().workers)
            if model.state == "waiting" { throw A1111Error(status: .serviceUnavailable, message: model.message, field: nil) }
        }
        var pictures = job.pictures
        do {
            let uses = try await loras.uses(job.loras)
            for i in pictures.indices { pictures[i].loras = uses }
        } catch let e as APIError {
            throw A1111Error.invalid("prompt", "<lora:...> tag: " + e.message.replacingOccurrences(of: #"^loras\[\d+\]\.name: "#, with: "", options: .regularExpression))
        }
        var ids: [String] = []
        do {
            // Each batch of batch_size pictures (at most 8 at a time) is one batch group: a worker
            // makes it in one pass when its pictures differ only in their seeds. All are queued at
            // once or none (a full queue: 429, nothing left behind).
            let size = min(job.batchSize, GenerationLimits.batch.upperBound)
            let chunks = stride(from: 0, to: pictures.count, by: size).map { Array(pictures[$0..<min($0 + size, pictures.count)]) }
            ids = try await queue.submit(batches: chunks).map(\.id)
        } catch {
            for id in ids { _ = try? await queue.cancel(id) }
            throw error
        }
        let batch = activity.register(ids)
        defer { activity.remove(batch) }
        var made: [(index: Int, entry: HistoryEntry)] = []
        var failure: String?
        for (k, id) in ids.enumerated() {
            if failure != nil || activity.isInterrupted(batch) || Task.isCancelled {
                _ = try? await queue.cancel(id)
                continue
            }
            var end: JobSnapshot?
            for await event in try await queue.follow(id) {
                switch event {
                case .progress: break
                case .preview(_, let url): activity.setPreview(batch, url)
                case .end(let s): end = s
                }
            }
            activity.setPreview(batch, nil)
            guard let end else { continue }
            if end.status == "done", let entry = end.history {
                made.append((k, entry))
            } else if end.status == "failed" {
                failure = end.error ?? "the job failed"
            } else if end.status == "cancelled" && !activity.wasSkipped(batch, job: id) {
                // Cancelled elsewhere (an interrupt through another front end, the console): the
                // whole request stops, as A1111's interrupt does; its other pictures may run on
                // other workers now.
                for other in activity.interrupt(batch) where other != id { _ = try? await queue.cancel(other) }
            }
        }
        if let failure { throw A1111Error(status: .internalServerError, message: failure, field: nil) }
        if made.count < pictures.count && queue.isStopping && !activity.isInterrupted(batch) {
            // Not a 200 without its pictures: they are still queued and are made after the restart.
            throw A1111Error(status: .serviceUnavailable, message: "the server is stopping: \(pictures.count - made.count) of "
                             + "\(pictures.count) pictures were not made yet; their jobs stay queued and run when it restarts "
                             + "(their pictures then appear in its history)", field: nil)
        }

        var encoded: [JSONValue] = [], infotexts: [JSONValue] = []
        let options = activity.options(over: a1111DefaultOptions)
        let format = options["samples_format"]?.string?.lowercased() ?? "png"
        let lossy: PictureOutput? = ["jpg", "jpeg"].contains(format) ? .jpeg : format == "webp" ? .webp : nil
        let quality = options["jpeg_quality"]?.int ?? 80
        for (k, entry) in made {
            let png = [UInt8](try await picture(file: entry.file))
            let fallback = GeneratedImage(width: pictures[k].width, height: pictures[k].height, rgb: [], request: pictures[k])
                .parameterText(model: host.name, presetSequenceLength: host.preset.sequenceLength).first?.value ?? ""
            let infotext = (try? PNG.text(png, source: entry.file))?.first { $0.key == "parameters" }?.value ?? fallback
            if job.sendImages {
                encoded.append(.string(Data(try lossy.map { try Self.a1111Encoded(png, as: $0, quality: quality, infotext: infotext) } ?? png).base64EncodedString()))
            }
            infotexts.append(.string(infotext))
        }
        let first = made.first.map { pictures[$0.index] } ?? pictures[0]
        let stamp = A1111Activity.timestamp(Date())
        // Words past T5's length change nothing: said in the notes, as the CLI and the console say it.
        let notes = job.notes + (host.promptTokens?.notices(for: first, option: "the server's --max-sequence-length") ?? [])
        let seeds = made.map { JSONValue.int(Int(truncatingIfNeeded: pictures[$0.index].seed)) }
        var info: [String: JSONValue] = [
            "prompt": .string(job.prompt),
            "all_prompts": .array(made.map { _ in .string(job.prompt) }),
            "negative_prompt": .string(first.negativePrompt),
            "all_negative_prompts": .array(made.map { _ in .string(first.negativePrompt) }),
            "seed": .int(Int(truncatingIfNeeded: first.seed)), "all_seeds": .array(seeds),
            "subseed": .int(-1), "all_subseeds": .array(made.map { _ in .int(-1) }), "subseed_strength": .int(0),
            "width": .int(first.width), "height": .int(first.height),
            "sampler_name": .string("Euler"), "scheduler": .string("Simple"),
            "cfg_scale": .double(Double(first.trueCFGScale)), "distilled_cfg_scale": .double(Double(first.guidance)),
            "steps": .int(first.steps), "batch_size": .int(job.batchSize), "n_iter": .int(job.iterations),
            "restore_faces": .bool(false), "face_restoration_model": .null,
            "sd_model_name": .string(host.name), "sd_model_hash": host.modelHash.map(JSONValue.string) ?? .null,
            "sd_vae_name": .null, "sd_vae_hash": .null, "seed_resize_from_w": .int(-1), "seed_resize_from_h": .int(-1),
            "denoising_strength": job.denoisingStrength.map { .double(Double("\($0)") ?? Double($0)) } ?? .null,  // 0.8, not 0.800000011920929
            "extra_generation_params": .object(Self.extraParameters(first)), "index_of_first_image": .int(0),
            "infotexts": .array(infotexts), "styles": .array([]), "job_timestamp": .string(stamp), "clip_skip": .int(1),
            "is_using_inpainting_conditioning": .bool(false), "version": .string("majicflux \(MajicFluxVersion.current)"),
            // Ours: what was ignored, and where the pictures are in this server's history.
            "notes": .array(notes.map(JSONValue.string)),
            "job_ids": .array(made.map { .string(ids[$0.index]) }),
            "images_urls": .array(made.map { .string($0.entry.url) }),
        ]
        if activity.isInterrupted(batch) || made.count < pictures.count {
            info["interrupted"] = .bool(activity.isInterrupted(batch))
            info["pictures_not_made"] = .int(pictures.count - made.count)
        }
        var parameters = body
        for key in ["init_images", "mask"] where parameters[key] != nil { parameters[key] = .null }
        return A1111Error.json(.object([
            "images": .array(encoded), "parameters": .object(parameters), "info": .string(JSONValue.object(info).serialized()),
        ]))
    }

    /// A stored PNG as A1111 answers with `samples_format` jpg or webp: a JPEG or a lossy WebP at
    /// `quality` with the infotext in EXIF UserComment (A1111's `encode_pil_to_base64`); a JPEG without
    /// it when it does not fit one segment (the infotext is in `info` all the same).
    static func a1111Encoded(_ png: [UInt8], as format: PictureOutput, quality: Int, infotext: String) throws -> [UInt8] {
        let exif = EXIFUserComment.payload(infotext)
        let picture = try PNG.decode(png, source: "a stored picture").image
        if format == .webp { return try WebP.encode(picture, quality: quality, exif: exif) }
        return try JPEG.encode(picture, quality: quality, exif: exif.count <= JPEG.maxEXIFBytes ? exif : nil)
    }

    /// `/progress`: the running job's, across its A1111 batch when it belongs to one.
    func a1111Progress(_ activity: A1111Activity, skipImage: Bool) async -> JSONValue {
        let counts = await queue.counts()
        guard let id = counts.running, let s = try? await queue.snapshot(id) else {
            return .object(["progress": .double(0), "eta_relative": .double(0), "current_image": .null, "textinfo": .null,
                            "current_task": .null,
                            "state": .object(["skipped": .bool(false), "interrupted": .bool(false), "job": .string(""),
                                              "job_count": .int(0), "job_timestamp": .string("0"), "job_no": .int(0),
                                              "sampling_step": .int(0), "sampling_steps": .int(0), "stopping_generation": .bool(false)])])
        }
        let found = activity.batch(holding: id)
        let count = found?.batch.jobIDs.count ?? 1, index = found?.index ?? 0
        let fraction = s.total_steps > 0 ? min(1, Double(s.step) / Double(s.total_steps)) : 0
        let progress = (Double(index) + fraction) / Double(count)
        // A1111's estimate: the time so far stretched to the whole batch; before the first step, the job's own.
        let elapsed = found.map { Date().timeIntervalSince($0.batch.started) } ?? (s.elapsed ?? 0)
        let eta = progress > 0.01 ? elapsed / progress - elapsed : (s.eta_seconds ?? 0)
        var image: JSONValue = .null
        if !skipImage, let url = found?.batch.preview, let comma = url.firstIndex(of: ",") {
            image = .string(String(url[url.index(after: comma)...]))
        }
        let text = [s.stage, "picture \(index + 1) of \(count)", counts.waiting > 0 ? "\(counts.waiting) waiting" : nil]
            .compactMap { $0 }.joined(separator: ", ")
        return .object([
            "progress": .double(progress), "eta_relative": .double(max(0, eta)), "current_image": image,
            "textinfo": .string(text), "current_task": .string(id),
            "state": .object(["skipped": .bool(found?.batch.skipped ?? false), "interrupted": .bool(found?.batch.interrupted ?? false),
                              "job": .string("job \(id)"), "job_count": .int(count), "job_no": .int(index),
                              "job_timestamp": .string(A1111Activity.timestamp(Date(timeIntervalSince1970: s.created))),
                              "sampling_step": .int(s.step), "sampling_steps": .int(s.total_steps), "stopping_generation": .bool(false)]),
        ])
    }

    /// `/interrupt` (`wholeBatch`): the running picture stops and the rest of its A1111 batch is not
    /// made; `/skip`: only the running picture stops. A job of the console's own API is stopped too,
    /// as A1111 stops whatever runs.
    func a1111Stop(_ activity: A1111Activity, wholeBatch: Bool) async {
        guard let id = await queue.counts().running else { return }
        if let found = activity.batch(holding: id) {
            if wholeBatch {
                for other in activity.interrupt(found.id) { _ = try? await queue.cancel(other) }
                return
            }
            activity.markSkipped(found.id, job: id)
        }
        _ = try? await queue.cancel(id)
    }
}
