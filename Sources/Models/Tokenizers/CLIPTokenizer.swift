#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tensor

/// CLIP's byte-level BPE tokenizer, loaded from a Hugging Face `tokenizer/` folder
/// (`vocab.json` + `merges.txt`, optional `tokenizer_config.json`).
///
/// Parity target: `transformers.CLIPTokenizer` 5.x as diffusers' FLUX pipeline loads it. In
/// transformers 5 that class is backed by the `tokenizers` library (`CLIPTokenizerFast` is the same
/// class): added tokens are taken out first (`<|endoftext|>` from the raw text, `<|startoftext|>` after
/// normalization, per `added_tokens_decoder`), then NFC, every run of Unicode whitespace becomes one
/// space, lowercase (per scalar, full mappings), the split pattern
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (whitespace dropped), GPT-2 byte-to-unicode mapping, `</w>` on each word's last symbol, merges
/// by rank; then BOS + ids + EOS. There is no ftfy repair and no HTML unescaping (those belonged to
/// the removed transformers 4.x slow tokenizer and to OpenAI's original code; see
/// `Sources/Models/Tokenizers/README.md`).
public final class CLIPTokenizer: Sendable {
    /// Beginning-of-text id (`<|startoftext|>`, 49406 for CLIP).
    public let bosTokenID: Int32
    /// End-of-text id (`<|endoftext|>`, 49407 for CLIP).
    public let eosTokenID: Int32
    /// Id used to pad to `maxLength` (from `pad_token`; FLUX uses `<|endoftext|>`, SD 2 uses `!` = 0).
    public let padTokenID: Int32
    /// Sequence length of the text model (`model_max_length`, 77).
    public let maxLength: Int
    /// Number of entries in the vocabulary.
    public var vocabularySize: Int { bpe.vocab.count }

    private let bpe: BPEModel
    private let rawTokens: AddedTokenSplitter
    private let normalizedTokens: AddedTokenSplitter
    /// Word cache keyed by UTF-8 bytes: `String` keys compare by canonical equivalence (Unicode 17),
    /// which would merge pieces the reference keeps apart (`"\u{30A}\u{1DF7}"` and `"\u{1DF7}\u{30A}"`).
    private let cache = Locked([[UInt8]: [Int32]]())
    private static let cacheCapacity = 10_000

    /// Loads `vocab.json`, `merges.txt` and (when present) `tokenizer_config.json` from `directory`.
    /// Throws `TokenizerError` naming the missing or malformed file.
    public convenience init(directory: String) throws {
        let config = TokenizerFiles.join(directory, "tokenizer_config.json")
        try self.init(vocabFile: TokenizerFiles.join(directory, "vocab.json"),
                      mergesFile: TokenizerFiles.join(directory, "merges.txt"),
                      configFile: TokenizerFiles.exists(config) ? config : nil)
    }

    /// Loads the tokenizer from explicit files; `configFile` is an optional `tokenizer_config.json`.
    public init(vocabFile: String, mergesFile: String, configFile: String? = nil) throws {
        // Vocabulary.
        let rawVocab = try TokenizerFiles.decodeJSON([String: Int].self, from: vocabFile)
        var vocab = [String: Int32](minimumCapacity: rawVocab.count)
        for (k, v) in rawVocab {
            guard v >= 0 && v < Int(Int32.max) else {
                throw TokenizerError.malformed(path: vocabFile, reason: "id \(v) of '\(k)' out of range")
            }
            vocab[k] = Int32(v)
        }
        if vocab.isEmpty { throw TokenizerError.malformed(path: vocabFile, reason: "empty vocabulary") }

        // Merges: "a b" per line, a leading "#version" line skipped.
        let mergesText = try TokenizerFiles.readText(mergesFile)
        var merges: [(String, String)] = []
        for (n, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.isEmpty || (n == 0 && l.hasPrefix("#version")) { continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.malformed(path: mergesFile, reason: "line \(n + 1) is not two symbols separated by one space: '\(l.prefix(60))'")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }

        // Special tokens and lengths (transformers' CLIPTokenizer defaults when no config).
        var bos = "<|startoftext|>", eos = "<|endoftext|>", pad = "<|endoftext|>", unk = "<|endoftext|>"
        var maxLength = 77
        var added: [AddedToken] = []
        var configured = Set<String>()
        if let configFile {
            let cfg = try TokenizerFiles.decodeJSON(TokenizerJSONValue.self, from: configFile)
            if let s = cfg["bos_token"]?.tokenContent { bos = s }
            if let s = cfg["eos_token"]?.tokenContent { eos = s }
            if let s = cfg["pad_token"]?.tokenContent { pad = s }
            if let s = cfg["unk_token"]?.tokenContent { unk = s }
            if let m = cfg["model_max_length"]?.number, m >= 2, m <= 1_000_000 { maxLength = Int(m) }
            if case .object(let dec)? = cfg["added_tokens_decoder"] {
                for (key, value) in dec {
                    guard let id = Int32(key), let content = value["content"]?.string else {
                        throw TokenizerError.malformed(path: configFile, reason: "bad added_tokens_decoder entry '\(key)'")
                    }
                    if value["single_word"]?.bool == true {
                        throw TokenizerError.unsupported(path: configFile, feature: "single_word added token '\(content)'")
                    }
                    added.append(AddedToken(content: content, id: id, normalized: value["normalized"]?.bool ?? false,
                                            lstrip: value["lstrip"]?.bool ?? false, rstrip: value["rstrip"]?.bool ?? false))
                    configured.insert(content)
                }
            }
        }
        bpe = try BPEModel(vocab: vocab, merges: merges, endOfWordSuffix: "</w>", unknownToken: unk, mergesPath: mergesFile)
        let where_ = configFile ?? vocabFile
        func id(_ token: String, _ role: String) throws -> Int32 {
            if let i = vocab[token] { return i }
            if let a = added.first(where: { $0.content == token }) { return a.id }
            throw TokenizerError.malformed(path: where_, reason: "\(role) token '\(token)' is not in the vocabulary")
        }
        bosTokenID = try id(bos, "bos")
        eosTokenID = try id(eos, "eos")
        padTokenID = try id(pad, "pad")
        // Special tokens not listed in added_tokens_decoder are registered unnormalized (as transformers does).
        for t in [bos, eos, unk, pad] where !configured.contains(t) {
            if let i = vocab[t] {
                added.append(AddedToken(content: t, id: i, normalized: false, lstrip: false, rstrip: false))
                configured.insert(t)
            }
        }
        self.maxLength = maxLength
        rawTokens = AddedTokenSplitter(added.filter { !$0.normalized })
        normalizedTokens = AddedTokenSplitter(added.filter { $0.normalized })
    }

    /// Token ids of `text`: BOS, the text's tokens, EOS; no truncation or padding.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [bosTokenID]
        var segments = rawTokens.split([.text(text, atStart: true)])
        segments = segments.map { seg in
            if case .text(let t, let s) = seg { return .text(Self.normalize(t), atStart: s) }
            return seg
        }
        segments = normalizedTokens.split(segments)
        for seg in segments {
            switch seg {
            case .token(let id): ids.append(id)
            case .text(let t, _): appendWordIDs(of: t, into: &ids)
            }
        }
        ids.append(eosTokenID)
        return ids
    }

    /// Ids padded with `padTokenID` or truncated to `length` (default `maxLength`) with EOS kept last,
    /// as diffusers calls the tokenizer (`padding="max_length", truncation=True`).
    public func encode(_ text: String, length: Int? = nil) -> [Int32] {
        let n = length ?? maxLength
        precondition(n >= 2, "CLIPTokenizer: length must be at least 2 (BOS and EOS)")
        var ids = encode(text)
        if ids.count > n {
            ids.removeSubrange((n - 1)...)
            ids.append(eosTokenID)
        } else {
            ids.append(contentsOf: repeatElement(padTokenID, count: n - ids.count))
        }
        return ids
    }

    // MARK: - Normalization and pre-tokenization

    /// NFC (with the reference's Unicode 9 tables, see `ReferenceNFC`), whitespace runs to one space,
    /// lowercase (the `tokenizers` normalizer sequence of CLIP).
    static func normalize(_ text: String) -> String {
        var isASCII = true
        for b in text.utf8 where b >= 0x80 { isASCII = false; break }
        let nfc = isASCII ? text : ReferenceNFC.normalize(text)
        var out = String.UnicodeScalarView()
        var inSpace = false
        for sc in nfc.unicodeScalars {
            if sc.value < 0x80 {
                let v = UInt8(sc.value)
                if v == 0x20 || (v >= 0x09 && v <= 0x0D) {
                    if !inSpace { out.append(" ") }
                    inSpace = true
                    continue
                }
                inSpace = false
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 0x20) : sc)
                continue
            }
            if sc.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            let lower = sc.properties.lowercaseMapping
            if lower.unicodeScalars.count == 1 && lower.unicodeScalars.first == sc { out.append(sc) }
            else { out.append(contentsOf: lower.unicodeScalars) }
        }
        return String(out)
    }

    /// Whether the reference (`tokenizers` 0.23: Oniguruma and Rust tables, Unicode 16) knows the
    /// scalar. Swift 6.3's tables are Unicode 17; scalars assigned later are treated as unassigned
    /// (class "other", no case mapping), as the reference does.
    @inline(__always) static func isKnownToReference(_ c: Unicode.Scalar) -> Bool {
        guard let age = c.properties.age else { return true }  // unassigned in both
        return age.major <= 16
    }

    enum CharClass { case space, letter, number, other }

    /// The regex classes `\s`, `\p{L}`, `\p{N}` for one scalar.
    static func charClass(_ c: Unicode.Scalar) -> CharClass {
        let v = c.value
        if v < 0x80 {
            if v >= 0x61 && v <= 0x7A || v >= 0x41 && v <= 0x5A { return .letter }
            if v >= 0x30 && v <= 0x39 { return .number }
            if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .space }
            return .other
        }
        if !isKnownToReference(c) { return .other }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return c.properties.isWhitespace ? .space : .other
        }
    }

    private static let specialWords: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }

    /// Splits normalized text with CLIP's pattern and appends the BPE ids of each piece. (The GPT-2
    /// pattern of the byte-level step splits nothing further except the two special literals: CLIP's
    /// pieces are single-class runs, contractions, or single digits.)
    private func appendWordIDs(of text: String, into ids: inout [Int32]) {
        let s = Array(text.unicodeScalars)
        let n = s.count
        var i = 0
        while i < n {
            let c = s[i]
            let cls = Self.charClass(c)
            if cls == .space { i += 1; continue }
            var end = i + 1
            var matched = false
            if c == "<" {
                for w in Self.specialWords where i + w.count <= n && s[i..<(i + w.count)].elementsEqual(w) {
                    end = i + w.count; matched = true; break
                }
            } else if c == "'" && i + 1 < n {
                let a = s[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { end = i + 2; matched = true }
                else if i + 2 < n {
                    let b = s[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { end = i + 3; matched = true }
                }
            }
            if matched && c == "<" {
                // The byte-level pre-tokenizer that follows (GPT-2 pattern) splits these literals
                // again into "<|", the letters, and "|>".
                appendBPE(String(String.UnicodeScalarView(s[i..<(i + 2)])), into: &ids)
                appendBPE(String(String.UnicodeScalarView(s[(i + 2)..<(end - 2)])), into: &ids)
                appendBPE(String(String.UnicodeScalarView(s[(end - 2)..<end])), into: &ids)
                i = end
                continue
            }
            if !matched {
                switch cls {
                case .letter: while end < n && Self.charClass(s[end]) == .letter { end += 1 }
                case .number: break
                default: while end < n && Self.charClass(s[end]) == .other { end += 1 }
                }
            }
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: s[i..<end])
            appendBPE(String(piece), into: &ids)
            i = end
        }
    }

    private func appendBPE(_ piece: String, into ids: inout [Int32]) {
        let key = Array(piece.utf8)
        if let hit = cache.withLock({ $0[key] }) { ids.append(contentsOf: hit); return }
        let out = bpe.merge(ByteLevel.encode(key))
        cache.withLock { c in
            if c.count >= Self.cacheCapacity { c.removeAll(keepingCapacity: true) }
            c[key] = out
        }
        ids.append(contentsOf: out)
    }
}
