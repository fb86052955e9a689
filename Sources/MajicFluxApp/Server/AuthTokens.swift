import Foundation
import Hummingbird

/// Checks the bearer token of requests to `/api/`, `/sdapi/` and `/images/` (docs/API.md,
/// "Security"). The page (`/`) needs none: it holds no data and asks for the token.
///
/// A token is taken from `Authorization: Bearer TOKEN`, or — for GET and HEAD only, which change
/// nothing — from the `majicflux_token` cookie that the page sets (SameSite=Strict) so that
/// `EventSource` and `<img>` requests, which cannot carry headers, are let in. A token in the URL is
/// not accepted (it would end up in logs and histories). Comparisons take the same time whatever
/// the bytes, so answers do not leak how much of a token was right.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: [[UInt8]]

    init(tokens: [String]) { self.tokens = tokens.map { Array($0.utf8) } }

    static var cookieName: String { "majicflux_token" }

    /// Paths that need a token.
    static func isProtected(_ path: String) -> Bool {
        path.hasPrefix("/api/") || path.hasPrefix("/sdapi/") || path.hasPrefix("/images/") || path == "/api" || path == "/sdapi"
    }

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        // Preflights carry no credentials by design; CORSMiddleware answered the allowed one.
        guard Self.isProtected(path), request.method != .options else { return try await next(request, context) }
        var given: String?
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                return challenge("the Authorization header must be \"Bearer TOKEN\"", path: path)
            }
            given = parts[1].trimmingCharacters(in: .whitespaces)
        } else if request.method == .get || request.method == .head {
            given = Self.cookie(Self.cookieName, in: request.headers[values: .cookie])
        }
        guard let given else {
            return challenge("this server needs an access token: send Authorization: Bearer TOKEN (the console page asks for it once)", path: path)
        }
        guard accepts(given) else { return challenge("the access token is not one of this server's", path: path) }
        return try await next(request, context)
    }

    /// Whether `token` is one of `tokens`; every token is compared, each in constant time.
    func accepts(_ token: String) -> Bool {
        let t = Array(token.utf8)
        var found = false
        for known in tokens { found = Self.constantTimeEqual(known, t) || found }
        return found
    }

    /// Equal bytes, in a time that depends on the lengths only.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt(a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= UInt((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0))
        }
        return difference == 0
    }

    /// The value of cookie `name` (percent-decoded) in the `Cookie` headers, if any.
    static func cookie(_ name: String, in headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == name {
                    let v = kv[1].trimmingCharacters(in: .whitespaces)
                    return v.removingPercentEncoding ?? v
                }
            }
        }
        return nil
    }

    private func challenge(_ message: String, path: String) -> Response {
        var r = Self.errorAnswer(.unauthorized, message, path: path)
        r.headers[.wwwAuthenticate] = "Bearer realm=\"majicflux\""
        return r
    }

    /// An error answer in the shape of the API the path belongs to: `{"detail": ...}` for the
    /// A1111-compatible `/sdapi/`, `{"error": ..., "status": ...}` for the rest.
    static func errorAnswer(_ status: HTTPResponse.Status, _ message: String, path: String) -> Response {
        path.hasPrefix("/sdapi/") ? A1111Error.answer(status, message) : JSONErrorMiddleware<Context>.answer(status, message)
    }
}
