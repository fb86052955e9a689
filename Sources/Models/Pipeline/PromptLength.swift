/// How much of a prompt each text encoder reads (`FluxPipeline.promptLength`): the prompt's tokens,
/// special tokens included, against what the encoder takes (CLIP 77; T5 the request's
/// `maxSequenceLength`). FLUX's detail comes from T5; CLIP gives one pooled vector of the start.
public struct PromptLength: Sendable, Equatable {
    public var clipTokens: Int
    public var clipLimit: Int
    public var t5Tokens: Int
    public var t5Limit: Int

    public init(clipTokens: Int, clipLimit: Int, t5Tokens: Int, t5Limit: Int) {
        (self.clipTokens, self.clipLimit, self.t5Tokens, self.t5Limit) = (clipTokens, clipLimit, t5Tokens, t5Limit)
    }

    /// Whether T5 drops the end of the prompt (the words there have no effect on the picture).
    public var t5Truncated: Bool { t5Tokens > t5Limit }
    public var clipTruncated: Bool { clipTokens > clipLimit }

    /// A line for the user when T5 drops part of the prompt (`what`: "prompt", "negative prompt"),
    /// naming `option` (the setting that raises the limit, e.g. "--max-sequence-length") and `maximum`,
    /// its largest value; nil when T5 reads it all.
    public func notice(_ what: String = "prompt", option: String, maximum: Int) -> String? {
        guard t5Truncated else { return nil }
        var text = "the \(what) is \(t5Tokens) T5 tokens and T5 reads \(t5Limit) (\(option)"
        text += t5Limit < maximum ? ", at most \(maximum)" : ", the most there is"
        text += "): the rest of the \(what) has no effect"
        if clipTruncated { text += " (CLIP, for the pooled vector, reads the first \(clipLimit) of \(clipTokens))" }
        return text
    }
}

/// Counts a prompt's tokens for each text encoder: tokenizing only, no weights, safe to call from
/// any thread while the pipeline generates (both tokenizers are `Sendable`; CLIP's word cache is
/// locked). A server uses it to tell a user, as they type, how much of the prompt the encoders read.
public struct PromptTokenCounter: Sendable {
    let clip: CLIPTokenizer
    let t5: T5Tokenizer

    /// How much of `prompt` CLIP and T5 read at `maxSequenceLength` T5 tokens.
    public func length(_ prompt: String, maxSequenceLength: Int) -> PromptLength {
        PromptLength(clipTokens: clip.encode(prompt).count, clipLimit: FluxPipeline.clipLength,
                     t5Tokens: t5.encode(prompt).count, t5Limit: maxSequenceLength)
    }

    /// What T5 drops of `r`'s prompt, and of its negative prompt when true CFG reads it, as notices
    /// (`PromptLength.notice`) naming `option`, the setting that raises the limit; empty when T5 reads all.
    public func notices(for r: GenerationRequest, option: String) -> [String] {
        let texts = [("prompt", r.prompt)] + (r.trueCFGScale > 1 ? [("negative prompt", r.negativePrompt)] : [])
        return texts.compactMap { what, text in
            length(text, maxSequenceLength: r.maxSequenceLength)
                .notice(what, option: option, maximum: GenerationLimits.sequenceLengths.upperBound)
        }
    }
}

extension FluxPipeline {
    /// The pipeline's tokenizers as a counter that can leave the pipeline (a server's HTTP handlers).
    public var promptTokenCounter: PromptTokenCounter { PromptTokenCounter(clip: clipTokenizer, t5: t5Tokenizer) }

    /// How much of `prompt` CLIP and T5 read at `maxSequenceLength` T5 tokens (tokenizing only).
    public func promptLength(_ prompt: String, maxSequenceLength: Int) -> PromptLength {
        promptTokenCounter.length(prompt, maxSequenceLength: maxSequenceLength)
    }
}
