#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The parts of a Hugging Face `tokenizer.json` that the unigram (T5) tokenizer reads. The model
/// vocabulary is decoded with a typed decoder (fast for 32k entries); the pipeline components stay
/// loosely typed and are interpreted by `T5Tokenizer`.
struct HFTokenizerJSON: Decodable {
    struct AddedTokenEntry: Decodable {
        let id: Int
        let content: String
        let single_word: Bool?
        let lstrip: Bool?
        let rstrip: Bool?
        let normalized: Bool?
        let special: Bool?
    }

    struct VocabEntry: Decodable {
        let piece: String
        let score: Double
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            piece = try c.decode(String.self)
            score = try c.decode(Double.self)
        }
    }

    struct Model: Decodable {
        let type: String?
        let unk_id: Int?
        let byte_fallback: Bool?
        let vocab: [VocabEntry]?
    }

    let added_tokens: [AddedTokenEntry]?
    let normalizer: TokenizerJSONValue?
    let pre_tokenizer: TokenizerJSONValue?
    let post_processor: TokenizerJSONValue?
    let model: Model
}
