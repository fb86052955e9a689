/// The parts of a SentencePiece `ModelProto` (`spiece.model`) that encoding needs, parsed by hand
/// from the protobuf wire format.
struct SentencePieceModel {
    enum PieceType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    struct Piece {
        let piece: String
        let score: Float
        let type: PieceType
    }

    var pieces: [Piece] = []
    // TrainerSpec
    var modelType = 1  // UNIGRAM
    var treatWhitespaceAsSuffix = false
    var byteFallback = false
    var unkID = 0
    var bosID = 1
    var eosID = 2
    var padID = -1
    // NormalizerSpec
    var normalizerName = ""
    var precompiledCharsmap: [UInt8] = []
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    /// Parses `bytes` (the content of `path`, which error messages name).
    init(bytes: [UInt8], path: String) throws {
        do {
            try bytes.withUnsafeBufferPointer { buf in
                var r = ProtobufReader(buf)
                while let (field, wire) = try r.readKey() {
                    switch field {
                    case 1:
                        try ProtobufReader.expect(wire, .lengthDelimited, field: "pieces")
                        pieces.append(try Self.parsePiece(buf, try r.readLengthDelimited()))
                    case 2:
                        try ProtobufReader.expect(wire, .lengthDelimited, field: "trainer_spec")
                        try parseTrainerSpec(buf, try r.readLengthDelimited())
                    case 3:
                        try ProtobufReader.expect(wire, .lengthDelimited, field: "normalizer_spec")
                        try parseNormalizerSpec(buf, try r.readLengthDelimited())
                    default:
                        try r.skip(wire)
                    }
                }
            }
        } catch let f as ProtobufReader.Failure {
            throw TokenizerError.malformed(path: path, reason: "not a SentencePiece model protobuf: \(f.reason)")
        }
        guard !pieces.isEmpty else { throw TokenizerError.malformed(path: path, reason: "the model has no pieces") }
        guard modelType == 1 else {
            throw TokenizerError.unsupported(path: path, feature: "model_type \(modelType) (only UNIGRAM = 1 is implemented)")
        }
        guard !treatWhitespaceAsSuffix else {
            throw TokenizerError.unsupported(path: path, feature: "treat_whitespace_as_suffix")
        }
        guard unkID >= 0 && unkID < pieces.count, pieces[unkID].type == .unknown else {
            throw TokenizerError.malformed(path: path, reason: "unk_id \(unkID) is not an UNKNOWN piece")
        }
        if let bad = pieces.first(where: { $0.type == .userDefined }) {
            throw TokenizerError.unsupported(path: path, feature: "USER_DEFINED piece '\(bad.piece)'")
        }
    }

    private static func parsePiece(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws -> Piece {
        var r = ProtobufReader(buf, range: range)
        var piece = "", score: Float = 0, type = PieceType.normal
        while let (field, wire) = try r.readKey() {
            switch field {
            case 1:
                try ProtobufReader.expect(wire, .lengthDelimited, field: "piece")
                piece = try r.string(try r.readLengthDelimited())
            case 2:
                try ProtobufReader.expect(wire, .fixed32, field: "score")
                score = Float(bitPattern: try r.readFixed32())
            case 3:
                try ProtobufReader.expect(wire, .varint, field: "type")
                let v = try r.readVarint()
                guard let t = PieceType(rawValue: Int(truncatingIfNeeded: v)) else {
                    throw ProtobufReader.Failure(reason: "unknown piece type \(v)")
                }
                type = t
            default: try r.skip(wire)
            }
        }
        return Piece(piece: piece, score: score, type: type)
    }

    private static func int32(_ v: UInt64) -> Int { Int(Int32(truncatingIfNeeded: Int64(bitPattern: v))) }

    private mutating func parseTrainerSpec(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws {
        var r = ProtobufReader(buf, range: range)
        while let (field, wire) = try r.readKey() {
            guard wire == .varint, [3, 24, 35, 40, 41, 42, 43].contains(field) else { try r.skip(wire); continue }
            let v = try r.readVarint()
            switch field {
            case 3: modelType = Self.int32(v)
            case 24: treatWhitespaceAsSuffix = v != 0
            case 35: byteFallback = v != 0
            case 40: unkID = Self.int32(v)
            case 41: bosID = Self.int32(v)
            case 42: eosID = Self.int32(v)
            default: padID = Self.int32(v)
            }
        }
    }

    private mutating func parseNormalizerSpec(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws {
        var r = ProtobufReader(buf, range: range)
        while let (field, wire) = try r.readKey() {
            switch (field, wire) {
            case (1, .lengthDelimited): normalizerName = try r.string(try r.readLengthDelimited())
            case (2, .lengthDelimited): precompiledCharsmap = Array(buf[try r.readLengthDelimited()])
            case (3, .varint): addDummyPrefix = try r.readVarint() != 0
            case (4, .varint): removeExtraWhitespaces = try r.readVarint() != 0
            case (5, .varint): escapeWhitespaces = try r.readVarint() != 0
            default: try r.skip(wire)
            }
        }
    }
}
