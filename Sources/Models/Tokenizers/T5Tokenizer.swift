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
///   gets a leading U+2581, and is segmented on its own; then `</s>` (1) is appended.
/// - `.sentencePiece`: what `sentencepiece.SentencePieceProcessor.encode` gives (plus EOS): the whole
///   text normalized with longest-match rules, extra spaces removed, dummy prefix, one Viterbi pass;
///   special-token strings are ordinary text.
///
/// The two agree on ordinary prompts; they differ on special-token strings, on whitespace that
/// `nmt_nfkc` does not map to a space (U+0085, U+2028, ...), and on rare combining sequences
/// (see `Sources/Models/Tokenizers/README.md`).
public final class T5Tokenizer: @unchecked Sendable {
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

    private enum NormalizerStep {
        case precompiled(PrecompiledCharsMap)
        case strip(left: Bool, right: Bool)
        case replace(String, String)
        case replaceSpaceRuns(String)
    }
    private enum PrependScheme { case always, first, never }

    private let model: UnigramModel
    private let addedTokens: AddedTokenSplitter
    private let steps: [NormalizerStep]
    private let whitespaceSplit: Bool
    private let metaspace: (replacement: String, prepend: PrependScheme, split: Bool)?
    private let prefixIDs: [Int32]
    private let suffixIDs: [Int32]
    // sentencePiece flavor
    private let spmCharsmap: PrecompiledCharsMap?
    private let spmFlags: (dummyPrefix: Bool, removeExtra: Bool, escape: Bool)

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
        prefixIDs = []
        suffixIDs = eos.map { [$0] } ?? []
        switch flavor {
        case .sentencePiece:
            model = UnigramModel(pieces: names, scores: scores, unknownID: Int32(proto.unkID),
                                 byteFallback: proto.byteFallback, float32Sums: true,
                                 matchable: { types[$0] == .normal || types[$0] == .userDefined },
                                 minScoreOf: { types[$0] == .normal })
            addedTokens = AddedTokenSplitter([])
            steps = []
            whitespaceSplit = false
            metaspace = nil
            spmCharsmap = charsmap
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
            steps = charsmap.map { [.precompiled($0)] } ?? []
            whitespaceSplit = true
            metaspace = ("\u{2581}", .always, true)
            spmCharsmap = nil
            spmFlags = (true, true, true)
        }
        vocabularySize = names.count
    }

    /// Loads a Hugging Face `tokenizer.json` with a `Unigram` model (the `.transformers` flavor).
    /// Supported components: normalizers `Precompiled`, `Strip`, `Replace` (string, or the regex
    /// ` {2,}`), `Sequence`; pre-tokenizers `WhitespaceSplit`, `Metaspace`, `Sequence`; post-processor
    /// `TemplateProcessing`. Anything else throws `unsupported` naming the file.
    public init(tokenizerJSON path: String, configFile: String? = nil, maxLength: Int = 512) throws {
        let j = try TokenizerFiles.decodeJSON(HFTokenizerJSON.self, from: path)
        guard j.model.type == nil || j.model.type == "Unigram" else {
            throw TokenizerError.unsupported(path: path, feature: "model type \(j.model.type ?? "?") (expected Unigram)")
        }
        guard let vocab = j.model.vocab, !vocab.isEmpty else { throw TokenizerError.malformed(path: path, reason: "model.vocab missing or empty") }
        guard let unk = j.model.unk_id, unk >= 0, unk < vocab.count else {
            throw TokenizerError.malformed(path: path, reason: "model.unk_id missing or out of range")
        }
        flavor = .transformers
        self.maxLength = maxLength
        unknownTokenID = Int32(unk)
        var names = vocab.map(\.piece)
        var ids = [String: Int32]()
        for (i, n) in names.enumerated() { ids[n] = Int32(i) }
        var added: [AddedToken] = []
        var maxID = names.count - 1
        for t in j.added_tokens ?? [] {
            guard t.id >= 0 && t.id < Int(Int32.max) else { throw TokenizerError.malformed(path: path, reason: "added token id \(t.id)") }
            if t.single_word == true { throw TokenizerError.unsupported(path: path, feature: "single_word added token '\(t.content)'") }
            added.append(AddedToken(content: t.content, id: Int32(t.id), normalized: t.normalized ?? false,
                                    lstrip: t.lstrip ?? false, rstrip: t.rstrip ?? false))
            ids[t.content] = Int32(t.id)
            maxID = max(maxID, t.id)
        }
        if added.contains(where: \.normalized) {
            throw TokenizerError.unsupported(path: path, feature: "normalized added tokens in a Unigram tokenizer")
        }
        vocabularySize = maxID + 1
        model = UnigramModel(pieces: names, scores: vocab.map(\.score), unknownID: Int32(unk),
                             byteFallback: j.model.byte_fallback ?? false, float32Sums: false,
                             matchable: { _ in true }, minScoreOf: { _ in true })
        names = []
        addedTokens = AddedTokenSplitter(added)

        // Normalizer.
        var steps: [NormalizerStep] = []
        func addNormalizer(_ v: TokenizerJSONValue) throws {
            guard let type = v["type"]?.string else { throw TokenizerError.malformed(path: path, reason: "normalizer without type") }
            switch type {
            case "Sequence":
                for n in v["normalizers"]?.array ?? [] { try addNormalizer(n) }
            case "Precompiled":
                guard let b64 = v["precompiled_charsmap"]?.string else { break }
                guard let data = Data(base64Encoded: b64) else {
                    throw TokenizerError.malformed(path: path, reason: "precompiled_charsmap is not base64")
                }
                if !data.isEmpty { steps.append(.precompiled(try PrecompiledCharsMap([UInt8](data), path: path))) }
            case "Strip":
                steps.append(.strip(left: v["strip_left"]?.bool ?? false, right: v["strip_right"]?.bool ?? false))
            case "Replace":
                let content = v["content"]?.string ?? ""
                if let s = v["pattern"]?["String"]?.string {
                    steps.append(.replace(s, content))
                } else if v["pattern"]?["Regex"]?.string == " {2,}" {
                    steps.append(.replaceSpaceRuns(content))
                } else {
                    throw TokenizerError.unsupported(path: path, feature: "Replace normalizer pattern \(String(describing: v["pattern"]))")
                }
            default:
                throw TokenizerError.unsupported(path: path, feature: "normalizer \(type)")
            }
        }
        if let n = j.normalizer, !n.isNull { try addNormalizer(n) }
        self.steps = steps

        // Pre-tokenizer.
        var split = false
        var meta: (String, PrependScheme, Bool)? = nil
        func addPre(_ v: TokenizerJSONValue) throws {
            guard let type = v["type"]?.string else { throw TokenizerError.malformed(path: path, reason: "pre_tokenizer without type") }
            switch type {
            case "Sequence": for p in v["pretokenizers"]?.array ?? [] { try addPre(p) }
            case "WhitespaceSplit": split = true
            case "Metaspace":
                let rep = v["replacement"]?.string ?? "\u{2581}"
                var scheme = PrependScheme.always
                if let s = v["prepend_scheme"]?.string {
                    switch s {
                    case "always": scheme = .always
                    case "first": scheme = .first
                    case "never": scheme = .never
                    default: throw TokenizerError.unsupported(path: path, feature: "Metaspace prepend_scheme \(s)")
                    }
                } else if v["add_prefix_space"]?.bool == false {
                    scheme = .never
                }
                meta = (rep, scheme, v["split"]?.bool ?? true)
            default:
                throw TokenizerError.unsupported(path: path, feature: "pre_tokenizer \(type)")
            }
        }
        if let p = j.pre_tokenizer, !p.isNull { try addPre(p) }
        whitespaceSplit = split
        metaspace = meta

        // Post-processor: TemplateProcessing "single" = [special..., $A, special...].
        var prefix: [Int32] = [], suffix: [Int32] = []
        if let post = j.post_processor, !post.isNull {
            guard post["type"]?.string == "TemplateProcessing", let single = post["single"]?.array else {
                throw TokenizerError.unsupported(path: path, feature: "post_processor \(post["type"]?.string ?? "?")")
            }
            var seenSequence = false
            for item in single {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let name = item["SpecialToken"]?["id"]?.string else {
                    throw TokenizerError.malformed(path: path, reason: "post_processor template item")
                }
                var tokenIDs: [Int32] = []
                if let list = post["special_tokens"]?[name]?["ids"]?.array {
                    tokenIDs = list.compactMap { $0.int.map(Int32.init) }
                } else if let id = ids[name] {
                    tokenIDs = [id]
                } else {
                    throw TokenizerError.malformed(path: path, reason: "post_processor special token \(name) has no id")
                }
                if seenSequence { suffix += tokenIDs } else { prefix += tokenIDs }
            }
        }
        prefixIDs = prefix
        suffixIDs = suffix
        eosTokenID = ids["</s>"].flatMap { suffix.contains($0) ? $0 : nil } ?? suffix.last

        // Pad token: tokenizer_config.json pad_token, else "<pad>", else 0.
        var pad = "<pad>"
        if let configFile {
            let cfg = try TokenizerFiles.decodeJSON(TokenizerJSONValue.self, from: configFile)
            if let p = cfg["pad_token"]?.tokenContent { pad = p }
        }
        padTokenID = ids[pad] ?? 0
        spmCharsmap = nil
        spmFlags = (true, true, true)
    }

    // MARK: - Encoding

    /// Ids of `text` followed by EOS; no truncation or padding.
    public func encode(_ text: String) -> [Int32] {
        var ids = prefixIDs
        switch flavor {
        case .sentencePiece:
            let normalized = PrecompiledCharsMap.sentencePieceNormalize(
                text, charsmap: spmCharsmap, addDummyPrefix: spmFlags.dummyPrefix,
                removeExtraWhitespaces: spmFlags.removeExtra, escapeWhitespaces: spmFlags.escape)
            model.encode(normalized, into: &ids)
        case .transformers:
            for seg in addedTokens.split([.text(text, atStart: true)]) {
                switch seg {
                case .token(let id): ids.append(id)
                case .text(let t, let atStart): encodeSegment(t, atStart: atStart, into: &ids)
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
        precondition(n >= suffixIDs.count + prefixIDs.count, "T5Tokenizer: length \(n) too short for the special tokens")
        var ids = encode(text)
        if ids.count > n {
            ids.removeSubrange((n - suffixIDs.count)...)
            ids.append(contentsOf: suffixIDs)
        } else {
            ids.append(contentsOf: repeatElement(padTokenID, count: n - ids.count))
        }
        return ids
    }

    private func normalize(_ text: String) -> String {
        var s = text
        for step in steps {
            switch step {
            case .precompiled(let cm): s = cm.transformersNormalize(s)
            case .strip(let left, let right):
                var sc = s.unicodeScalars[...]
                if left { while let f = sc.first, f.properties.isWhitespace { sc = sc.dropFirst() } }
                if right { while let l = sc.last, l.properties.isWhitespace { sc = sc.dropLast() } }
                s = String(String.UnicodeScalarView(sc))
            case .replace(let pattern, let content):
                s = Self.replaceScalars(s, pattern, content)
            case .replaceSpaceRuns(let content):
                var out = String.UnicodeScalarView()
                var run = 0
                for sc in s.unicodeScalars {
                    if sc == " " { run += 1; continue }
                    if run == 1 { out.append(" ") } else if run > 1 { out.append(contentsOf: content.unicodeScalars) }
                    run = 0
                    out.append(sc)
                }
                if run == 1 { out.append(" ") } else if run > 1 { out.append(contentsOf: content.unicodeScalars) }
                s = String(out)
            }
        }
        return s
    }

    /// Replaces every non-overlapping occurrence of `pattern`, compared scalar by scalar.
    private static func replaceScalars(_ s: String, _ pattern: String, _ content: String) -> String {
        let p = Array(pattern.unicodeScalars), src = Array(s.unicodeScalars)
        if p.isEmpty { return s }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < src.count {
            if src[i...].starts(with: p) { out.append(contentsOf: content.unicodeScalars); i += p.count }
            else { out.append(src[i]); i += 1 }
        }
        return String(out)
    }

    /// The `.transformers` pipeline for one span between added tokens.
    private func encodeSegment(_ text: String, atStart: Bool, into ids: inout [Int32]) {
        let normalized = normalize(text)
        // WhitespaceSplit: words separated by Unicode whitespace; `first` tracks offset 0.
        var words: [(word: String, first: Bool)] = []
        if whitespaceSplit {
            var current = String.UnicodeScalarView()
            var startsAtZero = atStart
            var index = 0, wordStart = 0
            for sc in normalized.unicodeScalars {
                if sc.properties.isWhitespace {
                    if !current.isEmpty { words.append((String(current), startsAtZero && wordStart == 0)); current = .init() }
                } else {
                    if current.isEmpty { wordStart = index }
                    current.append(sc)
                }
                index += 1
            }
            if !current.isEmpty { words.append((String(current), startsAtZero && wordStart == 0)) }
            startsAtZero = false
        } else if !normalized.isEmpty {
            words.append((normalized, atStart))
        }
        for (word, first) in words {
            guard let (rep, scheme, split) = metaspace else { model.encode(word, into: &ids); continue }
            // Scalar-level (not Character-level) work: a combining mark may follow the replacement.
            let repScalars = Array(rep.unicodeScalars)
            var w: [Unicode.Scalar] = []
            for sc in word.unicodeScalars {
                if sc == " " { w.append(contentsOf: repScalars) } else { w.append(sc) }
            }
            let prepend: Bool
            switch scheme {
            case .always: prepend = true
            case .first: prepend = first
            case .never: prepend = false
            }
            if prepend && !w.starts(with: repScalars) { w.insert(contentsOf: repScalars, at: 0) }
            if split && !repScalars.isEmpty {
                // Split on the replacement, each occurrence starting a new piece (MergedWithNext).
                var start = 0, i = 0
                while i < w.count {
                    if i > start && w[i...].starts(with: repScalars) {
                        model.encode(String(String.UnicodeScalarView(w[start..<i])), into: &ids)
                        start = i
                    }
                    i += w[i...].starts(with: repScalars) ? repScalars.count : 1
                }
                if start < w.count { model.encode(String(String.UnicodeScalarView(w[start...])), into: &ids) }
            } else {
                model.encode(String(String.UnicodeScalarView(w)), into: &ids)
            }
        }
    }
}
