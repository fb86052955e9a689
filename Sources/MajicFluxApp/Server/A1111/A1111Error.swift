import Foundation
import Hummingbird
import Tensor

/// An error of the A1111-compatible API, answered as FastAPI answers: a field that fails validation
/// is 422 `{"detail": [{"loc": ["body", FIELD], "msg": ..., "type": "value_error"}]}` (the shape A1111
/// clients parse), anything else `{"detail": MESSAGE}` with its status.
struct A1111Error: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    /// The request field at fault, for a 422.
    var field: String?

    /// A field that fails validation (422).
    static func invalid(_ field: String, _ message: String) -> A1111Error {
        A1111Error(status: .unprocessableContent, message: message, field: field)
    }

    var description: String { "\(status.code) \(field.map { "\($0): " } ?? "")\(message)" }

    var response: Response {
        guard let field else { return Self.answer(status, message) }
        let detail: JSONValue = .array([.object([
            "loc": .array([.string("body"), .string(field)]), "msg": .string(message), "type": .string("value_error"),
        ])])
        return Self.json(.object(["detail": detail]), status: status)
    }

    /// `{"detail": message}`.
    static func answer(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(.object(["detail": .string(message)]), status: status)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        if status == .requestTimeout { headers[.connection] = "close" }  // a body cut for coming too slowly: the rest is not read
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.serialized())))
    }

    /// Any error thrown by a handler as an A1111 answer: our `APIError`s keep their status and
    /// message (a 400 becomes 422, as FastAPI reports bad bodies).
    static func response(for error: any Error) -> Response {
        switch error {
        case let e as A1111Error: return e.response
        case let e as APIError:
            return answer(e.status == .badRequest ? .unprocessableContent : e.status, e.message)
        case let e as any HTTPResponseError: return answer(e.status, "\(e.status.reasonPhrase)")
        default: return answer(.internalServerError, "internal error: \(error)")
        }
    }
}
