import ArgumentParser

/// `serve`'s options for a shared server (docs/API.md, "Security"); `apply` puts them into the
/// configuration.
struct AuthOptions: ParsableArguments {
    @Option(name: .customLong("auth-token-file"), help: ArgumentHelp("File of bearer tokens, one per line: every /api, /sdapi and /images request must carry one (Authorization: Bearer TOKEN). Required to bind beyond loopback unless --insecure-no-auth.", valueName: "FILE"))
    var authTokenFile: String?
    @Flag(name: .customLong("insecure-no-auth"), help: "Serve beyond loopback without tokens: anyone who reaches the port may queue jobs and see every picture.")
    var insecureNoAuth = false
    @Option(name: .customLong("cors-origin"), help: ArgumentHelp("The one other web origin (https://app.example) whose pages may call the API; none by default.", valueName: "ORIGIN"))
    var corsOrigin: String?
    @Option(name: .customLong("public-name"), help: ArgumentHelp("A DNS name or address clients reach the server under (repeatable); with --host 0.0.0.0 only these and loopback's names are answered.", valueName: "NAME"))
    var publicNames: [String] = []
    @Option(name: .customLong("rate-limit"), help: ArgumentHelp("Requests per second each client address may make on average (0 = unlimited).", valueName: "N"))
    var rateLimit: Double = RateLimit().perSecond
    @Option(name: .customLong("rate-burst"), help: ArgumentHelp("Requests a client address may make at once before --rate-limit applies.", valueName: "N"))
    var rateBurst: Double = RateLimit().burst
    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp("Largest request body without its pictures.", valueName: "BYTES"))
    var maxBodyBytes: Int = 64 * 1024
    @Option(name: .customLong("max-upload-bytes"), help: ArgumentHelp("Largest request body with its pictures.", valueName: "BYTES"))
    var maxUploadBytes: Int = ServerImageLimits().maxUploadBytes

    /// The security settings these options give (the token file read); throws a `ValidationError`
    /// naming the option when they cannot work for a server bound to `host`.
    func security(bindHost host: String) throws -> ServerSecurity {
        guard rateLimit.isFinite, rateLimit >= 0 else { throw ValidationError("--rate-limit must be 0 (unlimited) or more, got \(rateLimit)") }
        guard rateBurst.isFinite, rateBurst >= 1 else { throw ValidationError("--rate-burst must be 1 or more, got \(rateBurst)") }
        guard (1024...(1 << 30)).contains(maxBodyBytes) else { throw ValidationError("--max-body-bytes must be 1024...\(1 << 30), got \(maxBodyBytes)") }
        guard (1024...(4 << 30)).contains(maxUploadBytes) else { throw ValidationError("--max-upload-bytes must be 1024...\(4 << 30), got \(maxUploadBytes)") }
        var s = ServerSecurity()
        s.insecureNoAuth = insecureNoAuth
        s.corsOrigin = corsOrigin
        s.publicNames = publicNames
        s.rateLimit = rateLimit == 0 ? nil : RateLimit(perSecond: rateLimit, burst: rateBurst)
        do {
            if let authTokenFile { s.authTokens = try ServerSecurity.readTokens(file: authTokenFile) }
            try s.check(bindHost: host)
        } catch let e as AuthConfigurationError {
            throw ValidationError(e.description)
        }
        return s
    }

    /// Puts the options into `c` (after `c.host` is set).
    func apply(to c: inout ServerConfiguration) throws {
        c.security = try security(bindHost: c.host)
        c.maxBodyBytes = maxBodyBytes
        c.imageLimits.maxUploadBytes = maxUploadBytes
    }
}
