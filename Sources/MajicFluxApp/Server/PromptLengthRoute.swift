import Foundation
import Hummingbird
import Models
import Tensor

/// `POST /api/prompt-length`: how many tokens of a prompt CLIP and T5 read (docs/API.md). The page
/// asks as the user types, so a prompt whose end T5 never sees is shown before a job runs.
/// Tokenizing only: it answers while the model loads or generates.
extension ConsoleServer {
    func addPromptLengthRoute(to router: Router<ConsoleRequestContext>) {
        router.post("/api/prompt-length") { request, _ in
            let body = try await self.jsonObject(request, limit: self.configuration.maxBodyBytes, shape: "{\"prompt\": ...}")
            return try JSONResponse.make(try self.promptLength(body.object))
        }
    }

    /// Counts `{"prompt": text, "max_sequence_length": n}` (n: the model's default when left out).
    func promptLength(_ o: [String: JSONValue]) throws -> PromptLengthAnswer {
        guard let v = o["prompt"] else { throw APIError.badRequest("prompt is missing") }
        guard let prompt = v.string else { throw APIError.badRequest("prompt must be a string, got \(JobRequestParser.shown(v))") }
        if prompt.count > GenerationLimits.promptCharacters {
            throw APIError.badRequest("prompt is \(prompt.count) characters long, more than \(GenerationLimits.promptCharacters)")
        }
        let limits = GenerationLimits.sequenceLengths
        let n = try JobRequestParser.integer(o["max_sequence_length"], "max_sequence_length", default: configuration.jobDefaults(model: host.preset).sequenceLength)
        guard limits.contains(n) else {
            throw APIError.badRequest("max_sequence_length must be between \(limits.lowerBound) and \(limits.upperBound), got \(n)")
        }
        guard let counter = host.promptTokens else {
            throw APIError(.serviceUnavailable, "the model's tokenizers could not be read (GET /api/status says why)")
        }
        let length = counter.length(prompt, maxSequenceLength: n)
        return PromptLengthAnswer(clip_tokens: length.clipTokens, clip_limit: length.clipLimit, clip_truncated: length.clipTruncated,
                                  t5_tokens: length.t5Tokens, t5_limit: length.t5Limit, t5_truncated: length.t5Truncated,
                                  notice: length.notice(option: "max_sequence_length", maximum: limits.upperBound))
    }
}

/// The answer of `POST /api/prompt-length`: tokens counted with the special ones (CLIP's start and
/// end, T5's end), against what each encoder reads; `notice` says what is lost when T5 cuts.
struct PromptLengthAnswer: Codable, Equatable {
    var clip_tokens, clip_limit: Int
    var clip_truncated: Bool
    var t5_tokens, t5_limit: Int
    var t5_truncated: Bool
    var notice: String?

    private enum CodingKeys: String, CodingKey { case clip_tokens, clip_limit, clip_truncated, t5_tokens, t5_limit, t5_truncated, notice }

    /// Every key always present: `notice` is null when nothing is cut (docs/API.md), not left out.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clip_tokens, forKey: .clip_tokens)
        try c.encode(clip_limit, forKey: .clip_limit)
        try c.encode(clip_truncated, forKey: .clip_truncated)
        try c.encode(t5_tokens, forKey: .t5_tokens)
        try c.encode(t5_limit, forKey: .t5_limit)
        try c.encode(t5_truncated, forKey: .t5_truncated)
        try c.encode(notice, forKey: .notice)
    }
}
