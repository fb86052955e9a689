import Foundation
import Hummingbird

/// Server-Sent Events framing (text/event-stream): `event: NAME`, one `data:` line of JSON, a blank line.
enum ServerSentEvents {
    static func frame(event: String, json: String) -> ByteBuffer {
        // JSON from our encoder holds no raw newlines, so one data line carries it whole.
        ByteBuffer(string: "event: \(event)\ndata: \(json)\n\n")
    }

    static func frame(_ event: JobEvent) -> ByteBuffer {
        switch event {
        case .progress(let s): return frame(event: "progress", json: encode(s))
        case .end(let s): return frame(event: "end", json: encode(s))
        case .preview(let step, let url): return frame(event: "preview", json: encode(PreviewEvent(step: step, image: url)))
        }
    }

    /// The response streaming a job's events until its end (or until the client leaves).
    static func response(_ events: AsyncStream<JobEvent>) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPFields.Element.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            // A client that reconnects on its own should wait a little; the page closes on `end`.
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            for await event in events {
                try await writer.write(frame(event))
            }
            try await writer.finish(nil)
        })
    }

    private static func encode(_ value: some Encodable) -> String {
        (try? JSONResponse.encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Payload of a `preview` event.
struct PreviewEvent: Codable {
    var step: Int
    /// A PNG data URL.
    var image: String
}
