import Foundation
import Hummingbird

/// An error answered to the client as `{"error": message}` with an HTTP status (4xx for bad input).
struct APIError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }

    var description: String { "\(status.code) \(message)" }
}

/// The JSON body of every error answer.
struct ErrorBody: Codable {
    var error: String
    var status: Int
}

/// Turns every error thrown below it (including the router's 404 and Hummingbird's own errors) into
/// a JSON answer with a message the page can show. Nothing a client sends can take the server down.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.answer(error.status, error.message)
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound
                ? "no such page or endpoint: \(request.method) \(request.uri.path)"
                : error.status.reasonPhrase)
            return Self.answer(error.status, message)
        } catch let error as any HTTPResponseError {
            return Self.answer(error.status, "\(error.status.reasonPhrase)")
        } catch {
            context.logger.error("internal error on \(request.method) \(request.uri.path): \(error)")
            return Self.answer(.internalServerError, "internal error: \(error)")
        }
    }

    static func answer(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response = (try? JSONResponse.make(ErrorBody(error: message, status: status.code), status: status))
            ?? Response(status: status)
        if status == .requestTimeout { response.headers[.connection] = "close" }  // a body cut for coming too slowly: the rest is not read
        return response
    }
}

/// JSON answers with stable key order.
enum JSONResponse {
    /// A fresh encoder per use (answers are built on many threads at once).
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
