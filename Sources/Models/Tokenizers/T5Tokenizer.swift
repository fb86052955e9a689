#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// T5's SentencePiece unigram tokenizer, loaded from a `tokenizer_2/` folder (`tokenizer.json` or
/// `spiece.model`, optional `tokenizer_config.json`), with two behaviours:
///
/// - `.transformers` (default): what diffusers runs, `transformers.T5Tokenizer` 5.x (the `tokenizers`
///   library; `T5TokenizerFast` is the same class). Special tokens (`<pad>`, `</s>`, `<unk>`,
///   `<extra_id_0>`...`<extra_id_99>`) are matched in the raw text; each remaining span is normalized
///   per grapheme cluster with the model's compiled rules, split on Unicode whitespace, each word
///   gets a leading U+2581, and is segmented on its own; then `</s>` (1) is appended. transformers
///   builds this pipeline itself whatever the folder holds (a `tokenizer.json`'s own normalizer and
///   pre-tokenizer are not run, see `T5TokenizerJSON`), so every layout gives the same ids.
/// - `.sentencePiece`: what `sentencepiece.SentencePieceProcessor.encode` gives (plus EOS): the whole
///   text normalized with longest-match rules, extra spaces removed, dummy prefix, one Viterbi pass;
///   special-token strings are ordinary text.
///
/// The two agree on ordinary prompts; they differ on special-token strings, on whitespace that
/// `nmt_nfkc` does not map to a space (U+0085, U+2028, ...), and on rare combining sequences
/// (see `Sources/Models/Tokenizers/README.md`).
public final class T5Tokenizer: Sendable {
    /// Which reference implementation the ids follow.
    public enum Flavor: Sendable {
        /// Hugging Face transformers / tokenizers (the diffusers FLUX pipeline).
        case transformers
        /// Google's sentencepiece library.
        case sentencePiece
    }

    /// The behaviour this tokenizer follows.
    public let flavor: Flavor
    /// `</s>` id appended after the text (1 for T5); nil when the configuration appends nothing.
    public let eosTokenID: Int32?
    /// Padding id (`<pad>`, 0 for T5).
    public let padTokenID: Int32
    /// Unknown-piece id (`<unk>`, 2 for T5).
    public let unknownTokenID: Int32
    /// Default sequence length for `encode(_:length:)`: 512 (FLUX.1-dev; schnell uses 256).
    public let maxLength: Int
    /// Number of ids (pieces plus added tokens such as `<extra_id_N>`).
    public let vocabularySize: Int

    private let model: UnigramModel
    private let addedTokens: AddedTokenSplitter
    /// The model's compiled normalization rules (`precompiled_charsmap`), nil when it has none.
    private let charsmap: PrecompiledCharsMap?
    /// Ids appended after the text (`</s>`).
    private let suffixIDs: [Int32]
    /// SentencePiece's normalizer flags (`.sentencePiece` flavor).
    private let spmFlags: (dummyPrefix: Bool, removeExtra: Bool, escape: Bool)
    /// Word-start marker (`Metaspace` replacement).
    private static let wordStart: Unicode.Scalar = "\u{2581}"

    /// Loads from a folder. `.transformers` prefers `tokenizer.json` (as transformers does) and
    /// falls back to `spiece.model`; `.sentencePiece` needs `spiece.model`.
    public convenience init(directory: String, flavor: Flavor = .transformers, maxLength: Int = 512) throws {
        let json = TokenizerFiles.join(directory, "tokenizer.json")
        let spm = TokenizerFiles.join(directory, "spiece.model")
        let config = TokenizerFiles.join(directory, "tokenizer_config.json")
        let configFile = TokenizerFiles.exists(config) ? config : nil
        if flavor == .transformers && TokenizerFiles.exists(json) {
            try self.init(tokenizerJSON: json, configFile: configFile, maxLength: maxLength)
        } else {
            try self.init(sentencePieceModel: spm, flavor: flavor, configFile: configFile, maxLength: maxLength)
        }
    }

    /// Loads a SentencePiece `spiece.model`. In the `.transformers` flavor the vocabulary is extended
    /// like transformers' T5Tokenizer: `extra_ids` (from `configFile`, default 100) sentinel tokens
    /// `<extra_id_{N-1}>` ... `<extra_id_0>` after the pieces, and byte fallback off.
    public init(sentencePieceModel path: String, flavor: Flavor = .transformers, configFile: String? = nil,
                maxLength: Int = 512) throws {
        let proto = try SentencePieceModel(bytes: try TokenizerFiles.read(path), path: path)
        let charsmap = proto.precompiledCharsmap.isEmpty ? nil : try PrecompiledCharsMap(proto.precompiledCharsmap, path: path)
        var extraIDs = 100
        if let configFile {
            let cfg = try TokenizerFiles.decodeJSON(TokenizerJSONValue.self, from: configFile)
            if let v = cfg["extra_ids"], !v.isNull {
                // Each id adds a vocabulary entry: bound it (T5 ships 100) so a typo cannot eat all memory.
                guard let e = v.int, (0...10_000).contains(e) else {
                    throw TokenizerError.malformed(path: configFile, reason: "extra_ids must be an integer in 0...10000, got \(v.number.map { "\($0)" } ?? "a non-number")")
                }
                extraIDs = e
            }
            if let m = cfg["model_max_length"]?.int, m >= 1, m <= 1_000_000, maxLength == 512 { _ = m }
        }
        self.flavor = flavor
        self.maxLength = maxLength
        unknownTokenID = Int32(proto.unkID)
        padTokenID = Int32(max(proto.padID, 0))
        var names = proto.pieces.map(\.piece)
        var scores = proto.pieces.map { Double($0.score) }
        let types = proto.pieces.map(\.type)
        let eos: Int32? = proto.eosID >= 0 && proto.eosID < names.count ? Int32(proto.eosID) : nil
        eosTokenID = eos
        suffixIDs = eos.map { [$0] } ?? []
        switch flavor {
        case .sentencePiece:
            model = UnigramModel(pieces: names, scores: scores, unknownID: Int32(proto.unkID),
                                 byteFallback: proto.byteFallback, float32Sums: true,
                                 matchable: { types[$0] == .normal || types[$0] == .userDefined },
                                 minScoreOf: { types[$0] == .normal })
            addedTokens = AddedTokenSplitter([])
            spmFlags = (proto.addDummyPrefix, proto.removeExtraWhitespaces, proto.escapeWhitespaces)
        case .transformers:
            var added: [AddedToken] = []
            for (i, t) in types.enumerated() where t == .control || t == .unknown {
                added.append(AddedToken(content: names[i], id: Int32(i), normalized: false, lstrip: false, rstrip: false))
            }
            for k in stride(from: extraIDs - 1, through: 0, by: -1) {
                added.append(AddedToken(content: "<extra_id_\(k)>", id: Int32(names.count), normalized: false, lstrip: false, rstrip: false))
                names.append("<extra_id_\(k)>")
                scores.append(0)
            }
            model = UnigramModel(pieces: names, scores: scores, unknownID: Int32(proto.unkID),
                                 byteFallback: false, float32Sums: false, matchable: { _ in true }, minScoreOf: { _ in true })
            addedTokens = AddedTokenSplitter(added)
            spmFlags = (true, true, true)
        }
        self.charsmap = charsmap
        vocabularySize = names.count
    }

    /// Loads a Hugging Face `tokenizer.json` with a `Unigram` model (the `.transformers` flavor) the way
    /// transformers 5's T5Tokenizer does: from the file's vocabulary and `Precompiled` charsmap only,
    /// with T5's fixed pipeline (see `T5TokenizerJSON`); `<unk>` is id 2 and byte fallback is off.
    /// The file's components must be of the SentencePiece family (normalizers `Precompiled`, `Strip`,
    /// `Replace`, `Prepend`, `NFKC`, `Sequence`; pre-tokenizers `WhitespaceSplit`, `Metaspace`,
    /// `Sequence`; post-processor `TemplateProcessing`): anything else throws `unsupported` naming the file.
    public init(tokenizerJSON path: String, configFile: String? = nil, maxLength: Int = 512) throws {
        let j = try T5TokenizerJSON(path: path, configFile: configFile)
        flavor = .transformers
        self.maxLength = maxLength
        unknownTokenID = T5TokenizerJSON.unknownTokenID
        model = UnigramModel(pieces: j.pieces, scores: j.scores, unknownID: T5TokenizerJSON.unknownTokenID,
                             byteFallback: false, float32Sums: false, matchable: { _ in true }, minScoreOf: { _ in true })
        addedTokens = AddedTokenSplitter(j.addedTokens)
        charsmap = j.charsmap
        eosTokenID = j.eosTokenID
        suffixIDs = [j.eosTokenID]
        padTokenID = j.padTokenID
        vocabularySize = j.vocabularySize
        spmFlags = (true, true, true)
    }

    // MARK: - Encoding

    /// Ids of `text` followed by EOS; no truncation or padding.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        switch flavor {
        case .sentencePiece:
            let normalized = PrecompiledCharsMap.sentencePieceNormalize(
                text, charsmap: charsmap, addDummyPrefix: spmFlags.dummyPrefix,
                removeExtraWhitespaces: spmFlags.removeExtra, escapeWhitespaces: spmFlags.escape)
            model.encode(normalized, into: &ids)
        case .transformers:
            for seg in addedTokens.split([.text(text, atStart: true)]) {
                switch seg {
                case .token(let id): ids.append(id)
                case .text(let t, _): encodeSegment(t, into: &ids)
                }
            }
        }
        ids.append(contentsOf: suffixIDs)
        return ids
    }

    /// Ids padded with `padTokenID` or truncated to `length` (default `maxLength`) keeping the
    /// final EOS, as diffusers calls the tokenizer (`padding="max_length", truncation=True`).
    public func encode(_ text: String, length: Int? = nil) -> [Int32] {
        let n = length ?? maxLength
        precondition(n >= suffixIDs.count, "T5Tokenizer: length \(n) too short for the special tokens")
        var ids = encode(text)
        if ids.count > n {
            ids.removeSubrange((n - suffixIDs.count)...)
            ids.append(contentsOf: suffixIDs)
        } else {
            ids.append(contentsOf: repeatElement(padTokenID, count: n - ids.count))
        }
        return ids
    }

    /// The `.transformers` pipeline for one span between added tokens: `Precompiled`, then
    /// `WhitespaceSplit`, then `Metaspace` (U+2581 prepended unless the word starts with it; the word
    /// split before every U+2581, each piece keeping its marker), each piece segmented on its own.
    private func encodeSegment(_ text: String, into ids: inout [Int32]) {
        let normalized = charsmap?.transformersNormalize(text) ?? text
        var word: [Unicode.Scalar] = []
        for sc in normalized.unicodeScalars {
            if sc.properties.isWhitespace {
                encodeWord(word, into: &ids)
                word.removeAll(keepingCapacity: true)
            } else {
                word.append(sc)
            }
        }
        encodeWord(word, into: &ids)
    }

    private func encodeWord(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        var w = word
        if w[0] != Self.wordStart { w.insert(Self.wordStart, at: 0) }
        var start = 0
        for i in 1..<w.count where w[i] == Self.wordStart {
            model.encode(String(String.UnicodeScalarView(w[start..<i])), into: &ids)
            start = i
        }
        model.encode(String(String.UnicodeScalarView(w[start...])), into: &ids)
    }
}
