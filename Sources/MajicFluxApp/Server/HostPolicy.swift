import Hummingbird

/// Which `Host` and `Origin` headers the console answers (docs/API.md, "Who may talk to the console").
///
/// - Host: only the names the server is bound under — 127.0.0.1, localhost, [::1] and the `--host`
///   value — with any port or none. A web page whose own name resolves to 127.0.0.1 (DNS rebinding)
///   sends its own name as Host and is refused. Bound to every interface (0.0.0.0, ::), any name is
///   accepted, since the machine's names and addresses are not known.
/// - Origin: a request that changes something (any method but GET, HEAD and OPTIONS) and carries an
///   `Origin` must come from the console itself: Origin's host and port equal the request's Host.
///   Browsers send Origin on every cross-site POST, so other sites cannot queue or cancel jobs;
///   clients without Origin (curl, scripts) are not browsers and are let through. The one
///   `--cors-origin` is let through as well.
/// - `--public-name NAME`s are answered besides the bound names; bound to every interface with public
///   names given, only they and loopback's names are.
struct HostPolicy: Sendable {
    /// Accepted host names (lowercase, IPv6 in brackets); nil = every name.
    let allowedNames: Set<String>?
    /// The `--cors-origin`, normalized (`CORSPolicy.normalizedOrigin`), whose state changes are allowed.
    let corsOrigin: String?

    /// The policy of a server bound to `boundHost` (the `--host` value), also known as `publicNames`.
    init(boundHost: String, publicNames: [String] = [], corsOrigin: String? = nil) {
        let bound = Self.bracketed(boundHost.lowercased())
        let loopback: Set<String> = ["127.0.0.1", "localhost", "[::1]"]
        let extra = Set(publicNames.map { Self.bracketed($0.lowercased()) })
        if ["0.0.0.0", "[::]", "[0:0:0:0:0:0:0:0]"].contains(bound) {
            allowedNames = extra.isEmpty ? nil : loopback.union(extra)
        } else {
            allowedNames = loopback.union(extra).union([bound])
        }
        self.corsOrigin = corsOrigin.flatMap(CORSPolicy.normalizedOrigin)
    }

    /// A reason to refuse the request, or nil to serve it.
    func refusal(method: HTTPRequest.Method, authority: String?, extraHostFields: Int,
                 origin: String?) -> (status: HTTPResponse.Status, message: String)? {
        guard let authority, !authority.isEmpty else {
            return (.badRequest, "the request has no Host header")
        }
        if extraHostFields > 0 { return (.badRequest, "the request has more than one Host header") }
        guard let (name, _) = Self.split(authority: authority) else {
            return (.badRequest, "the Host header \"\(authority.prefix(100))\" is not a host name with an optional port")
        }
        if let allowedNames, !allowedNames.contains(name) {
            let names = allowedNames.sorted().joined(separator: ", ")
            return (.misdirectedRequest, "this console answers only to \(names) (with any port); Host \"\(authority.prefix(100))\" "
                    + "is refused so that other web sites cannot reach it through their own names (DNS rebinding)")
        }
        let readOnly: [HTTPRequest.Method] = [.get, .head, .options]
        if let origin, !readOnly.contains(method), !Self.origin(origin, matches: authority),
           corsOrigin == nil || CORSPolicy.normalizedOrigin(origin) != corsOrigin {
            return (.forbidden, "cross-site request refused: Origin \"\(origin.prefix(100))\" is not this console "
                    + "(\(authority.prefix(100))); only the console's own page may change things here")
        }
        return nil
    }

    /// Whether an `Origin` (scheme://host[:port]) names the same host and port as the Host header.
    /// A port left out counts as the scheme's default (Host: plain HTTP, 80).
    static func origin(_ origin: String, matches host: String) -> Bool {
        let lower = origin.lowercased()
        let scheme: String, defaultPort: String
        if lower.hasPrefix("http://") { (scheme, defaultPort) = ("http://", "80") }
        else if lower.hasPrefix("https://") { (scheme, defaultPort) = ("https://", "443") }
        else { return false }  // "null" (sandboxed pages, files) and anything else is not the console
        guard let o = split(authority: String(lower.dropFirst(scheme.count))), let h = split(authority: host) else { return false }
        return o.name == h.name && (o.port ?? defaultPort) == (h.port ?? (scheme == "https://" ? "443" : "80"))
    }

    /// "name[:port]" as a lowercase name (IPv6 literals keep their brackets) and its port digits;
    /// nil when it is anything else (paths, user info, spaces, a bare IPv6 address…).
    static func split(authority: String) -> (name: String, port: String?)? {
        let a = authority.lowercased()
        let name: Substring, rest: Substring
        if a.hasPrefix("[") {
            guard let close = a.firstIndex(of: "]") else { return nil }
            name = a[...close]
            rest = a[a.index(after: close)...]
            guard name.count > 2, name.dropFirst().dropLast().allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            let colon = a.firstIndex(of: ":") ?? a.endIndex
            name = a[..<colon]
            rest = a[colon...]
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == "_"
            }) else { return nil }
        }
        if rest.isEmpty { return (String(name), nil) }
        let port = rest.dropFirst()
        guard rest.first == ":", (1...5).contains(port.count), port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return (String(name), String(port))
    }

    /// `Host` (HTTPTypes hides its own name for it: the first one is the request's authority).
    static let hostField = HTTPFields.Element.Name("Host")!
    static let frameOptionsField = HTTPFields.Element.Name("X-Frame-Options")!

    /// An IPv6 address in brackets, as it appears in a Host header; other names unchanged.
    static func bracketed(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}

/// Applies `HostPolicy` to every request before routing, and forbids framing every answer
/// (clickjacking): `X-Frame-Options: DENY` and `frame-ancestors 'none'` added to any existing CSP.
struct HostOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: HostPolicy

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        // The first Host header is the authority; any further one stays among the fields.
        let refusal = policy.refusal(method: request.method, authority: request.head.authority,
                                     extraHostFields: request.headers[values: HostPolicy.hostField].count,
                                     origin: request.headers[.origin])
        var response: Response
        if let refusal {
            response = JSONErrorMiddleware<Context>.answer(refusal.status, refusal.message)
        } else {
            response = try await next(request, context)
        }
        Self.forbidFraming(&response.headers)
        return response
    }

    static func forbidFraming(_ headers: inout HTTPFields) {
        headers[HostPolicy.frameOptionsField] = "DENY"
        if let csp = headers[.contentSecurityPolicy] {
            if !csp.lowercased().contains("frame-ancestors") { headers[.contentSecurityPolicy] = csp + "; frame-ancestors 'none'" }
        } else {
            headers[.contentSecurityPolicy] = "frame-ancestors 'none'"
        }
    }
}

/// `--cors-origin`: the one other origin whose pages may call the API. Its requests get
/// `Access-Control-Allow-Origin` for it alone (with `Vary: Origin`) and its preflights (OPTIONS with
/// `Access-Control-Request-Method`) are answered 204; every other origin gets no CORS header, so a
/// browser keeps other sites' pages from reading any answer or sending JSON.
struct CORSPolicy: Sendable {
    let origin: String

    /// "scheme://host[:port]" in lowercase with the scheme's default port left out; nil when `text`
    /// is not an http(s) origin (a path, user info, a wildcard...).
    static func normalizedOrigin(_ text: String) -> String? {
        let lower = text.lowercased()
        for (scheme, port) in [("http://", "80"), ("https://", "443")] where lower.hasPrefix(scheme) {
            guard let (name, p) = HostPolicy.split(authority: String(lower.dropFirst(scheme.count))) else { return nil }
            return scheme + name + (p == nil || p == port ? "" : ":" + p!)
        }
        return nil
    }

    static let allowOrigin = HTTPFields.Element.Name("Access-Control-Allow-Origin")!
    static let allowMethods = HTTPFields.Element.Name("Access-Control-Allow-Methods")!
    static let allowHeaders = HTTPFields.Element.Name("Access-Control-Allow-Headers")!
    static let maxAge = HTTPFields.Element.Name("Access-Control-Max-Age")!
    static let requestMethod = HTTPFields.Element.Name("Access-Control-Request-Method")!
    static let vary = HTTPFields.Element.Name("Vary")!
}

/// Answers the `--cors-origin`'s preflights and marks its answers readable by it; does nothing for
/// other origins or without `--cors-origin`.
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: CORSPolicy

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], CORSPolicy.normalizedOrigin(origin) == policy.origin else {
            return try await next(request, context)
        }
        var response: Response
        if request.method == .options, request.headers[CORSPolicy.requestMethod] != nil {
            response = Response(status: .noContent)
            response.headers[CORSPolicy.allowMethods] = "GET, POST, DELETE, OPTIONS"
            response.headers[CORSPolicy.allowHeaders] = "Authorization, Content-Type"
            response.headers[CORSPolicy.maxAge] = "600"
        } else {
            response = try await next(request, context)
        }
        response.headers[CORSPolicy.allowOrigin] = origin
        response.headers[CORSPolicy.vary] = "Origin"
        return response
    }
}
