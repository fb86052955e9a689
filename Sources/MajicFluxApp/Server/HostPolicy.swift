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
///   clients without Origin (curl, scripts) are not browsers and are let through.
struct HostPolicy: Sendable {
    /// Accepted host names (lowercase, IPv6 in brackets); nil = every name.
    let allowedNames: Set<String>?

    /// The policy of a server bound to `boundHost` (the `--host` value).
    init(boundHost: String) {
        let bound = Self.bracketed(boundHost.lowercased())
        allowedNames = ["0.0.0.0", "[::]", "[0:0:0:0:0:0:0:0]"].contains(bound)
            ? nil : ["127.0.0.1", "localhost", "[::1]", bound]
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
        if let origin, !readOnly.contains(method), !Self.origin(origin, matches: authority) {
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
