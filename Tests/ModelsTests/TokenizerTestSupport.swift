import Foundation
import XCTest

/// The tokenizer parity corpus made by Tools/make_tokenizer_fixtures.py.
struct TokenizerCorpus: Decodable {
    let prompts: [String]
    /// transformers.CLIPTokenizer ids (BOS ... EOS), untruncated.
    let clip: [[Int32]]
    /// transformers.T5Tokenizer ids (... EOS), untruncated.
    let t5: [[Int32]]
    /// sentencepiece ids + EOS where they differ from `t5` (prompt index as the key).
    let t5_spm_diff: [String: [Int32]]
    /// sentencepiece ids + EOS with the byte-fallback model.
    let t5_bytefallback: [[Int32]]

    static let shared: TokenizerCorpus = {
        let url = fixturesURL.appendingPathComponent("tokenizer-corpus.json")
        return try! JSONDecoder().decode(TokenizerCorpus.self, from: Data(contentsOf: url))
    }()

    static var fixturesURL: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
