import Foundation

/// Who may use a shared console (docs/API.md, "Security"): access tokens, the one other web origin
/// allowed to call it (CORS), the public names it answers to, and the per-client rate limit.
public struct ServerSecurity: Sendable {
    /// Bearer tokens any of which opens `/api/`, `/sdapi/` and `/images/` (`--auth-token-file`); nil:
    /// no token asked.
    public var authTokens: [String]?
    /// Serving beyond loopback without tokens was asked for explicitly (`--insecure-no-auth`).
    public var insecureNoAuth = false
    /// The one other web origin (`https://app.example`) whose pages may call the API (`--cors-origin`);
    /// nil: no CORS headers at all, so other sites' pages cannot read answers.
    public var corsOrigin: String?
    /// Further host names (DNS names or addresses) the server answers to (`--public-name`); with a
    /// server bound to every interface they are the only names besides loopback's.
    public var publicNames: [String] = []
    /// Requests per second and burst per client address (`--rate-limit`, `--rate-burst`); nil: unlimited.
    public var rateLimit: RateLimit? = RateLimit()

    public init() {}

    /// Shortest token accepted: a shorter one can be guessed over the network.
    public static let minimumTokenLength = 16

    /// Whether `host` (a `--host` value) is reachable only from this machine.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Refuses a configuration that would open the console to the network without a token (and one
    /// that asks for both a token and none), naming both options.
    public func check(bindHost host: String) throws {
        if insecureNoAuth && authTokens != nil {
            throw AuthConfigurationError("--insecure-no-auth and --auth-token-file contradict each other; give one")
        }
        if let tokens = authTokens {
            if tokens.isEmpty { throw AuthConfigurationError("the token file holds no token (one per line; lines starting with # are comments)") }
            if let short = tokens.firstIndex(where: { $0.count < Self.minimumTokenLength }) {
                throw AuthConfigurationError("token \(short + 1) of the token file is shorter than \(Self.minimumTokenLength) characters; "
                    + "use long random tokens, e.g. `openssl rand -hex 24`")
            }
        }
        if let origin = corsOrigin, CORSPolicy.normalizedOrigin(origin) == nil {
            throw AuthConfigurationError("--cors-origin must be an origin like https://app.example or http://host:8080 (scheme, host, optional port; no path), got \"\(origin.prefix(100))\"")
        }
        for name in publicNames {
            guard let split = HostPolicy.split(authority: HostPolicy.bracketed(name)), split.port == nil else {
                throw AuthConfigurationError("--public-name must be a host name or address without a port, got \"\(name.prefix(100))\"")
            }
        }
        if !Self.isLoopback(host) && authTokens == nil && !insecureNoAuth {
            throw AuthConfigurationError("""
                --host \(host) opens the console beyond this machine: give --auth-token-file FILE (bearer tokens, one per \
                line; clients send Authorization: Bearer TOKEN) or, on a network where everyone may use it, --insecure-no-auth
                """)
        }
    }

    /// Reads a token file: one token per line, surrounding spaces trimmed, empty lines and lines
    /// starting with `#` skipped.
    public static func readTokens(file path: String) throws -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw AuthConfigurationError("--auth-token-file \(path): no such file")
        }
        guard !isFolder.boolValue else { throw AuthConfigurationError("--auth-token-file \(path): a folder, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AuthConfigurationError("--auth-token-file \(path): cannot be read (permission denied?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw AuthConfigurationError("--auth-token-file \(path): cannot read it as UTF-8 text")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

/// The per-client token bucket: `perSecond` requests on average, up to `burst` at once.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double = 50
    public var burst: Double = 1000
    public init(perSecond: Double = 50, burst: Double = 1000) {
        self.perSecond = perSecond
        self.burst = burst
    }
}

/// A security setting that cannot work; the server does not start.
public struct AuthConfigurationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
