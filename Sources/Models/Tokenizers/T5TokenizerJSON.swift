#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What transformers 5's `T5Tokenizer` takes from a `tokenizer.json` (with the folder's
/// `tokenizer_config.json`). It does not run the file's pipeline: `TokenizersBackend` extracts the
/// Unigram vocabulary and the first `Precompiled` charsmap of the normalizer, and
/// `models/t5/tokenization_t5.py` builds a fresh tokenizer from them (normalizer `Precompiled` alone,
/// pre-tokenizer `WhitespaceSplit` + `Metaspace(prepend_scheme="always", split=True)`, `unk_id=2`,
/// `byte_fallback=False`, post-processor `$A </s>`). So a `Strip`/`Replace` normalizer or a
/// `Metaspace(prepend_scheme="first")` pre-tokenizer in the file (the google/t5-v1_1 layout FLUX.1-dev
/// and ComfyUI ship) has no effect.
///
/// Added tokens are the union of the file's `added_tokens`, the config's `added_tokens_decoder`, its
/// `eos_token`/`unk_token`/`pad_token`, and its `additional_special_tokens`/`extra_special_tokens`
/// (or `<extra_id_0>`...`<extra_id_{extra_ids-1}>`, 100 by default); each takes the id of the
/// vocabulary piece with its content, or a new id after the vocabulary when there is none.
struct T5TokenizerJSON {
    var pieces: [String]
    var scores: [Double]
    var charsmap: PrecompiledCharsMap?
    var addedTokens: [AddedToken]
    var eosTokenID: Int32
    var padTokenID: Int32
    /// Pieces plus added tokens that are not pieces.
    var vocabularySize: Int

    /// transformers' T5Tokenizer always takes id 2 as `<unk>`.
    static let unknownTokenID: Int32 = 2

    init(path: String, configFile: String?) throws {
        let j = try TokenizerFiles.decodeJSON(HFTokenizerJSON.self, from: path)
        guard j.model.type == nil || j.model.type == "Unigram" else {
            throw TokenizerError.unsupported(path: path, feature: "model type \(j.model.type ?? "?") (expected Unigram)")
        }
        guard let vocab = j.model.vocab, !vocab.isEmpty else { throw TokenizerError.malformed(path: path, reason: "model.vocab missing or empty") }
        guard let unk = j.model.unk_id, unk >= 0, unk < vocab.count else {
            throw TokenizerError.malformed(path: path, reason: "model.unk_id missing or out of range")
        }
        try Self.checkComponents(j, path: path)
        guard vocab.count > Int(Self.unknownTokenID) else {
            throw TokenizerError.malformed(path: path, reason: "fewer than 3 pieces (transformers' T5Tokenizer takes id 2 as <unk>)")
        }
        pieces = vocab.map(\.piece)
        scores = vocab.map(\.score)
        charsmap = try Self.precompiledCharsmap(j.normalizer, path: path)

        var ids = [String: Int32](minimumCapacity: pieces.count)
        for (i, p) in pieces.enumerated() { ids[p] = Int32(i) }  // later duplicates win, as in tokenizers
        var nextID = pieces.count
        var added: [AddedToken] = []
        var seen = Set<String>()
        func add(_ content: String, normalized: Bool = false, lstrip: Bool = false, rstrip: Bool = false, file: String) throws {
            guard !content.isEmpty, seen.insert(content).inserted else { return }
            if normalized {
                throw TokenizerError.unsupported(path: file, feature: "normalized added token '\(content)' in a Unigram tokenizer")
            }
            let id: Int32
            if let known = ids[content] { id = known } else {
                id = Int32(nextID)
                ids[content] = id
                nextID += 1
            }
            added.append(AddedToken(content: content, id: id, normalized: false, lstrip: lstrip, rstrip: rstrip))
        }
        for t in j.added_tokens ?? [] {
            if t.single_word == true { throw TokenizerError.unsupported(path: path, feature: "single_word added token '\(t.content)'") }
            try add(t.content, normalized: t.normalized ?? false, lstrip: t.lstrip ?? false, rstrip: t.rstrip ?? false, file: path)
        }

        var eos = "</s>", unkToken = "<unk>", pad = "<pad>"
        var extras: [String] = []
        var extraIDs = 100
        if let configFile {
            let cfg = try TokenizerFiles.decodeJSON(TokenizerJSONValue.self, from: configFile)
            if case .object(let dec)? = cfg["added_tokens_decoder"] {
                for (key, value) in dec.sorted(by: { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }) {
                    guard let content = value["content"]?.string else {
                        throw TokenizerError.malformed(path: configFile, reason: "bad added_tokens_decoder entry '\(key)'")
                    }
                    if value["single_word"]?.bool == true {
                        throw TokenizerError.unsupported(path: configFile, feature: "single_word added token '\(content)'")
                    }
                    try add(content, normalized: value["normalized"]?.bool ?? false, lstrip: value["lstrip"]?.bool ?? false,
                            rstrip: value["rstrip"]?.bool ?? false, file: configFile)
                }
            }
            if let s = cfg["eos_token"]?.tokenContent { eos = s }
            if let s = cfg["unk_token"]?.tokenContent { unkToken = s }
            if let s = cfg["pad_token"]?.tokenContent { pad = s }
            if let e = cfg["extra_ids"]?.int { extraIDs = max(0, e) }
            for key in ["additional_special_tokens", "extra_special_tokens"] {
                extras += (cfg[key]?.array ?? []).compactMap(\.tokenContent)
            }
        }
        if !extras.contains(where: { $0.hasPrefix("<extra_id_") }) {
            extras += (0..<extraIDs).map { "<extra_id_\($0)>" }
        }
        for t in [eos, unkToken, pad] + extras { try add(t, file: configFile ?? path) }
        guard let eosID = ids[eos], let padID = ids[pad] else {
            throw TokenizerError.malformed(path: configFile ?? path, reason: "empty eos_token or pad_token")
        }
        addedTokens = added
        eosTokenID = eosID
        padTokenID = padID
        vocabularySize = nextID
    }

    /// The first `Precompiled` normalizer, at the top level or in a top-level `Sequence` (where
    /// transformers looks for it).
    private static func precompiledCharsmap(_ normalizer: TokenizerJSONValue?, path: String) throws -> PrecompiledCharsMap? {
        guard let n = normalizer, !n.isNull else { return nil }
        let list = n["type"]?.string == "Sequence" ? (n["normalizers"]?.array ?? []) : [n]
        guard let p = list.first(where: { $0["type"]?.string == "Precompiled" }),
              let b64 = p["precompiled_charsmap"]?.string else { return nil }
        guard let data = Data(base64Encoded: b64) else {
            throw TokenizerError.malformed(path: path, reason: "precompiled_charsmap is not base64")
        }
        return data.isEmpty ? nil : try PrecompiledCharsMap([UInt8](data), path: path)
    }

    /// The file's pipeline must be of the SentencePiece family that T5 conversions write; anything
    /// else (a byte-level or WordPiece pipeline) means the folder holds no T5 tokenizer.
    private static func checkComponents(_ j: HFTokenizerJSON, path: String) throws {
        func check(_ v: TokenizerJSONValue?, _ what: String, _ allowed: Set<String>, _ children: String) throws {
            guard let v, !v.isNull else { return }
            guard let type = v["type"]?.string else { throw TokenizerError.malformed(path: path, reason: "\(what) without type") }
            guard allowed.contains(type) else { throw TokenizerError.unsupported(path: path, feature: "\(what) \(type)") }
            for child in v[children]?.array ?? [] { try check(child, what, allowed, children) }
        }
        try check(j.normalizer, "normalizer", ["Sequence", "Precompiled", "Strip", "Replace", "Prepend", "NFKC"], "normalizers")
        try check(j.pre_tokenizer, "pre_tokenizer", ["Sequence", "WhitespaceSplit", "Metaspace"], "pretokenizers")
        try check(j.post_processor, "post_processor", ["TemplateProcessing"], "")
    }
}
