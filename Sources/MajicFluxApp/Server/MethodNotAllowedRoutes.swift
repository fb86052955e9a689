import Hummingbird

/// 405 with `Allow` for a known path asked with a method it does not take (RFC 9110, 15.5.6).
///
/// Hummingbird's router answers 404 whenever path and method do not both match, before any
/// middleware sees the method, so a client that sent `GET /api/jobs/x/cancel` or `PUT /api/jobs`
/// read "no such endpoint" for a path that exists. Every path the router knows gets a responder for
/// each method it lacks; they go through the router's middlewares like any route (host, tokens,
/// rate limit), so a 405 tells nothing a 404 would not have told before the check.
enum MethodNotAllowedRoutes {
    /// Methods answered 405 where a path lacks them. OPTIONS stays with the CORS middleware; HEAD is
    /// GET's twin where GET exists (`.autoGenerateHeadEndpoints`) and 405 elsewhere.
    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]

    /// Adds the 405 responders for every path `router` has now; call it after the last route.
    static func add(to router: Router<ConsoleRequestContext>) {
        var allowed: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in router.routes {
            allowed[route.path.description, default: (route.path, [])].methods.insert(route.method)
        }
        for (_, entry) in allowed {
            var methods = entry.methods
            if methods.contains(.get) { methods.insert(.head) }
            let allow = methods.map(\.rawValue).sorted().joined(separator: ", ")
            let isA1111 = entry.path.description.hasPrefix("/sdapi/")
            for method in Self.methods where !methods.contains(method) {
                router.on(entry.path, method: method) { request, _ in
                    Self.response(request, allow: allow, a1111: isA1111)
                }
            }
        }
    }

    /// The answer: the API's JSON error (FastAPI's `{"detail": "Method Not Allowed"}` under /sdapi).
    static func response(_ request: Request, allow: String, a1111: Bool) -> Response {
        let message = "\(request.method) is not allowed on \(request.uri.path.prefix(200)); this path takes \(allow)"
        var response = a1111 ? A1111Error.answer(.methodNotAllowed, "Method Not Allowed")
                             : JSONErrorMiddleware<ConsoleRequestContext>.answer(.methodNotAllowed, message)
        response.headers[.allow] = allow
        return response
    }
}
