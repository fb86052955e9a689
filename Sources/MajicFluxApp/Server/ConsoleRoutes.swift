import Foundation
import Hummingbird
import Models
import Tensor

/// The page and the JSON API (documented in docs/API.md).
extension ConsoleServer {
    func makeRouter() -> Router<ConsoleRequestContext> {
        // HEAD answers as GET without the body (every GET route gets its HEAD twin; they were 404s).
        let router = Router(context: ConsoleRequestContext.self, options: .autoGenerateHeadEndpoints)
        // First: refused hosts and origins never reach a route; every answer forbids framing.
        router.middlewares.add(HostOriginMiddleware(policy: HostPolicy(boundHost: configuration.host, publicNames: configuration.security.publicNames,
                                                                       corsOrigin: configuration.security.corsOrigin)))
        addSecurityMiddlewares(to: router)  // rate limit, CORS, tokens (docs/API.md, "Security")
        router.middlewares.add(JSONErrorMiddleware())
        let parser = JobRequestParser(configuration: configuration, model: host.preset)
        // A job body may be larger than max_body_bytes by its pictures only (JobRequestParser checks).
        let uploadLimit = max(configuration.maxBodyBytes, configuration.imageLimits.maxUploadBytes)

        router.get("/") { _, _ in ConsolePage.response() }
        router.get("/index.html") { _, _ in ConsolePage.response() }

        router.get("/api/status") { _, _ in try JSONResponse.make(await self.status()) }

        router.get("/api/history") { _, _ in
            try JSONResponse.make(HistoryList(items: try await self.history()))
        }

        router.get("/api/loras") { _, _ in try JSONResponse.make(self.loras.list()) }

        addPromptLengthRoute(to: router)
        addPictureParametersRoute(to: router, images: JobImages(limits: configuration.imageLimits), uploadLimit: uploadLimit)

        router.get("/api/jobs") { _, _ in try JSONResponse.make(JobList(jobs: try await self.queue.active())) }

        router.post("/api/jobs") { request, _ in
            // JSON, or multipart/form-data for picture uploads. A web page elsewhere cannot send JSON
            // without a CORS preflight (never granted); a multipart form it could, so the Origin rule
            // (HostOriginMiddleware) and, for browsers that send it, Sec-Fetch-Site keep other sites out.
            let type = request.headers[.contentType] ?? ""
            let boundary = try MultipartParser.boundary(contentType: type)
            guard boundary != nil || Self.isJSON(contentType: type) else {
                throw APIError(.unsupportedMediaType, "send the job as JSON with Content-Type: application/json, or with its pictures as multipart/form-data (got \(type.isEmpty ? "none" : String(type.prefix(100))))")
            }
            if boundary != nil, let site = request.headers[HTTPFields.Element.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
                throw APIError(.forbidden, "cross-site upload refused (Sec-Fetch-Site: \(site.prefix(40)))")
            }
            let body = try await self.collect(request, limit: uploadLimit)
            var job = try boundary.map { try parser.parseMultipart(body, boundary: $0) } ?? parser.parse(body)
            // Loaded (or found in the cache) now, so a name or file that cannot be used is this answer's 400.
            job.request.loras = try await self.loras.uses(job.loras)
            // A batch count above 1: one batch group of seeds seed, seed+1, ...; the answer is the
            // first job's, with every job's id in `batch`.
            let jobs = try await self.queue.submit(batch: FluxPipeline.batchRequests(job.request, count: job.batchCount))
            var first = jobs[0]
            if jobs.count > 1 { first.batch = jobs.map(\.id) }
            return try JSONResponse.make(first, status: .accepted)
        }

        router.delete("/api/history/:file") { _, context in
            let file = context.parameters.get("file") ?? ""
            guard HistoryStore.isSafeName(file) else { throw APIError.notFound("no such history entry: \(file.prefix(64))") }
            return try JSONResponse.make(try await self.deleteHistory(file: file))
        }

        router.get("/api/jobs/:id") { _, context in
            try JSONResponse.make(try await self.queue.snapshot(try Self.jobID(context)))
        }

        router.get("/api/jobs/:id/events") { _, context in
            ServerSentEvents.response(try await self.queue.follow(try Self.jobID(context)))
        }

        router.post("/api/jobs/:id/cancel") { _, context in
            try JSONResponse.make(try await self.queue.cancel(try Self.jobID(context)))
        }
        router.delete("/api/jobs/:id") { _, context in
            try JSONResponse.make(try await self.queue.cancel(try Self.jobID(context)))
        }

        router.get("/images/:file") { _, context in
            let file = context.parameters.get("file") ?? ""
            // Only names the server made and listed in the index; never a path built from the URL.
            guard HistoryStore.isSafeName(file) else {
                throw APIError.notFound("no such image: image names look like 00012-1234.png")
            }
            let data = try await self.picture(file: file)
            var headers = HTTPFields()
            headers[.contentType] = "image/png"
            headers[.cacheControl] = "public, max-age=31536000, immutable"
            headers[.contentDisposition] = "inline; filename=\"\(file)\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        addA1111Routes(to: router)
        MethodNotAllowedRoutes.add(to: router)  // last: it reads the routes above
        return router
    }

    /// Exactly `application/json`, with or without parameters (`; charset=utf-8`), in any case.
    /// A prefix match would let `application/jsonp` or `application/json-seq` through.
    static func isJSON(contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }

    /// A small JSON request's body as an object: 415 unless sent as `application/json` (`shape` shows
    /// what to send), 413 beyond `limit` bytes, 400 for anything but a JSON object.
    func jsonObject(_ request: Request, limit: Int, shape: String) async throws -> (object: [String: JSONValue], bytes: Int) {
        let type = request.headers[.contentType] ?? ""
        guard Self.isJSON(contentType: type) else {
            throw APIError(.unsupportedMediaType, "send \(shape) as JSON with Content-Type: application/json (got \(type.isEmpty ? "none" : String(type.prefix(100))))")
        }
        let body = try await collect(request, limit: limit)
        let json: JSONValue
        do { json = try JSONValue.parse(body, maxDepth: 4) } catch { throw APIError.badRequest("the request body is not valid JSON: \(error)") }
        guard let o = json.object else { throw APIError.badRequest("the request body must be a JSON object") }
        return (o, body.count)
    }

    /// The body, at most `limit` bytes (413 beyond). A body that ends early or is malformed (the
    /// client closed before sending Content-Length bytes, broken chunked framing) is the client's
    /// fault: 400, not 500. A body still trickling in after `idleTimeout` seconds (5 at least) at under
    /// `minimumBodyRate` bytes a second is cut with 408 and the connection closed: the idle timer
    /// restarts with every byte, so it alone would let a client hold a connection open forever.
    func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        let tooLarge = APIError(.contentTooLarge, "the request body is larger than this server's limit of \(limit) bytes")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        let grace = max(configuration.idleTimeout, 5), start = ContinuousClock.now  // (5 s at least: a tiny body may come late)
        var bytes: [UInt8] = []
        do {
            for try await chunk in request.body {
                if bytes.count + chunk.readableBytes > limit { throw tooLarge }
                bytes += chunk.readableBytesView
                let elapsed = Self.seconds(since: start)
                if elapsed > grace && Double(bytes.count) / elapsed < Self.minimumBodyRate {
                    throw APIError(.requestTimeout, "the request body came too slowly (\(bytes.count) bytes in \(Int(elapsed)) s); "
                                   + "send it at \(Int(Self.minimumBodyRate)) bytes a second or more")
                }
            }
            return bytes
        } catch let error as APIError {
            throw error
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw tooLarge
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw APIError.badRequest("the request body was cut short or malformed (\(error)); send the whole body, "
                                      + "as many bytes as Content-Length says")
        }
    }

    /// Slowest average a request body may arrive at once `idleTimeout` has passed (1 KiB/s).
    static let minimumBodyRate: Double = 1024

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    static func jobID(_ context: ConsoleRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard !id.isEmpty, id.count <= 64, id.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }) else {
            throw APIError.notFound("unknown job id \"\(id.prefix(64))\"")
        }
        return id
    }

    func status() async -> ServerStatus {
        let counts = await queue.counts()
        let (workers, problem) = await workerStatuses()
        return ServerStatus(model: await modelStatus(workers: workers), running: counts.running, waiting: counts.waiting,
                            limits: .init(max_pixels: configuration.maxPixels, max_steps: ServerConfiguration.maxSteps,
                                          max_body_bytes: configuration.maxBodyBytes, max_queued_jobs: configuration.maxQueuedJobs,
                                          max_image_bytes: configuration.imageLimits.maxImageBytes,
                                          max_upload_bytes: configuration.imageLimits.maxUploadBytes,
                                          max_input_pixels: configuration.imageLimits.maxInputPixels),
                            defaults: .init(configuration.jobDefaults(model: host.preset)),
                            workers: workers, queue: store.kind, queue_error: problem.map { "the job store (\(store.kind)) cannot be read: \($0.prefix(300))" })
    }
}

/// `GET /api/status`.
struct ServerStatus: Codable {
    var model: ModelStatus
    /// Id of the running job, if any.
    var running: String?
    /// Jobs waiting.
    var waiting: Int
    var limits: Limits
    var defaults: Defaults
    struct Limits: Codable {
        var max_pixels, max_steps, max_body_bytes, max_queued_jobs: Int
        /// Input pictures: encoded bytes each, a job body with pictures, decoded pixels each.
        var max_image_bytes, max_upload_bytes, max_input_pixels: Int
    }
    /// What a job that leaves these out gets (the page starts from them): the served model's preset.
    struct Defaults: Codable {
        /// The preset's name: "FLUX.1-dev", "FLUX.1-schnell" or "majicflus".
        var preset: String
        var max_sequence_length, width, height, steps: Int
        var guidance: Float
        /// false: the model has no guidance embedder; a job may not set another guidance.
        var uses_guidance: Bool
        /// "model" or "diffsynth", with the DiffSynth shift.
        var schedule: String
        var shift: Float?
        /// Which pictures the model takes: "base" (img2img, inpainting, outpainting), "fill"
        /// (FLUX.1-Fill: image + mask or outpaint), "control" (Canny/Depth: a control picture),
        /// "kontext" (a reference picture).
        var conditioning: String
        /// The step cache threshold the console sends when its step cache is ticked
        /// (`StepCacheAdvice.recommended`); a job that leaves `cache_threshold` out runs uncached.
        var recommended_cache_threshold: Float = StepCacheAdvice.recommended

        init(_ p: ModelPreset) {
            preset = p.name
            max_sequence_length = p.sequenceLength
            (width, height, steps, guidance, uses_guidance) = (p.imageSize, p.imageSize, p.steps, p.guidance, p.usesGuidance)
            conditioning = p.conditioning.rawValue
            switch p.schedule {
            case .model: (schedule, shift) = ("model", nil)
            case .diffSynth(let s): (schedule, shift) = ("diffsynth", s)
            }
        }
    }

    /// Every worker of the job store (`WorkerStatus`), and the store's kind ("sqlite", "postgres").
    var workers: [WorkerStatus] = []
    var queue: String = "sqlite"
    /// Why the job store cannot be read now (a PostgreSQL server down); null when it answers. The
    /// counts and workers are then this process's view only (an empty queue looked healthy).
    var queue_error: String? = nil

    private enum CodingKeys: String, CodingKey { case model, running, waiting, limits, defaults, workers, queue, queue_error }

    /// `running` is always present: `null` when idle, as docs/API.md shows (the synthesized
    /// encoder would leave the key out).
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(running, forKey: .running)
        try c.encode(waiting, forKey: .waiting)
        try c.encode(limits, forKey: .limits)
        try c.encode(defaults, forKey: .defaults)
        try c.encode(workers, forKey: .workers)
        try c.encode(queue, forKey: .queue)
        try c.encode(queue_error, forKey: .queue_error)
    }
}

/// `GET /api/history`.
struct HistoryList: Codable { var items: [HistoryEntry] }

/// `GET /api/jobs`.
struct JobList: Codable { var jobs: [JobSnapshot] }
