import Tensor

/// One low-rank update of a LoRA file: `scale * up @ down` added to a Linear's weight (or to some
/// of its output rows, for diffusers' q/k/v/mlp projections of BFL's fused weights).
public struct LoRAPatch: Sendable {
    /// The model it belongs to.
    public var component: LoRAComponent { target.component }
    /// Our Linear's name (BFL names for the DiT).
    public var layer: String { target.layer }
    let target: LoRATarget
    /// (rank, in), f32 in host memory.
    public let down: Tensor
    /// (rows, rank), f32 in host memory; rows are the whole output or the part `target` names.
    public let up: Tensor
    /// alpha / rank where the file gives alpha, else 1 (the user's weight multiplies it).
    public let scale: Float
    /// The file's key it came from (without the `.lora_down.weight`-style suffix), for messages.
    public let sourceKey: String

    public var rank: Int { down.shape[0] }
}

/// A LoRA file read and mapped onto our layers, whatever its key format (kohya / sd-scripts,
/// diffusers / PEFT, XLabs, ComfyUI / BFL). Immutable; attach it to a pipeline with a weight
/// (`LoRAUse`, `FluxPipeline.setLoRAs`). Reading: LoRA+Reading.swift.
public final class LoRA: Sendable {
    /// The file name without `.safetensors` (A1111's `<lora:name:weight>`).
    public let name: String
    /// The file it was read from.
    public let path: String
    /// The key formats found in the file.
    public let formats: Set<LoRAKeyFormat>
    /// Every update, in file order.
    public let patches: [LoRAPatch]
    /// The safetensors `__metadata__`.
    public let metadata: [String: String]

    /// The file's A1111 short hash, computed in the background from the time the file is read (a
    /// 150 MB LoRA takes most of a second), so a picture's infotext rarely waits for it.
    private let hashTask: ModelHashTask

    init(name: String, path: String, formats: Set<LoRAKeyFormat>, patches: [LoRAPatch], metadata: [String: String]) {
        self.name = name
        self.path = path
        self.formats = formats
        self.patches = patches
        self.metadata = metadata
        hashTask = ModelHashTask { LoRA.addnetHash(path) }
    }

    /// The models it changes.
    public var components: Set<LoRAComponent> { Set(patches.map(\.component)) }

    /// The largest rank among its updates.
    public var rank: Int { patches.map(\.rank).max() ?? 0 }

    /// Trigger words from the metadata: `modelspec.trigger_phrase` (comma-separated), else the most
    /// frequent tags of kohya's `ss_tag_frequency` (at most five).
    public var triggerWords: [String] { Self.triggerWords(metadata: metadata) }

    /// `triggerWords` from a safetensors `__metadata__` alone (a folder listing reads only headers).
    public static func triggerWords(metadata: [String: String]) -> [String] {
        if let phrase = metadata["modelspec.trigger_phrase"] ?? metadata["trigger_phrase"] ?? metadata["trigger_words"] {
            return phrase.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }
        }
        guard let json = metadata["ss_tag_frequency"], let sets = (try? JSONValue.parse(json))?.object else { return [] }
        var counts: [String: Double] = [:]
        for set in sets.values {
            for (tag, n) in set.object ?? [:] { counts[tag, default: 0] += n.double ?? 0 }
        }
        return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5).map(\.key)
    }

    /// A1111's short hash of the file for `Lora hashes:` (the first 12 hex digits of the SHA-256 of
    /// everything after the safetensors header, sd-scripts' "addnet" hash). Read once, then cached;
    /// nil when the file can no longer be read.
    /// A1111's short hash of the file for `Lora hashes:` (sd-scripts' "addnet" hash, `addnetHash`);
    /// waits for the background computation; nil when the file can no longer be read.
    public var shortHash: String? { hashTask.wait() }

    /// sd-scripts' addnet hash: SHA-256 of the bytes after the safetensors header, 12 hex digits.
    static func addnetHash(_ path: String) -> String? {
        guard let file = try? SafeTensorsFile(path: path) else { return nil }
        var sha = SHA256()
        sha.update(UnsafeRawBufferPointer(rebasing: file.mapping.bytes[file.header.dataStart...]))
        return String(SHA256.hex(sha.finalize()).prefix(12))
    }

    /// A title for people: `modelspec.title` or `ss_output_name`, else the file name.
    public var title: String { Self.title(metadata: metadata, name: name) }

    /// `title` from a safetensors `__metadata__` and the file name alone.
    public static func title(metadata: [String: String], name: String) -> String {
        metadata["modelspec.title"] ?? metadata["ss_output_name"] ?? name
    }
}

/// A LoRA with the weight it is applied at (1 = as trained; several add up).
public struct LoRAUse: Sendable {
    public let lora: LoRA
    public let weight: Float
    public init(_ lora: LoRA, weight: Float = 1) {
        self.lora = lora
        self.weight = weight
    }
}

/// Why a LoRA cannot be read or attached. Messages name the file, the key or layer, and both shapes.
public enum LoRAError: Error, CustomStringConvertible, Equatable {
    /// Keys that name no layer of ours (the first few, and how many in all).
    case unmappedKeys(file: String, keys: [String], total: Int)
    /// A LoRA kind we do not apply (LyCORIS LoKr/LoHa, DoRA, full diffs, conv LoRAs).
    case unsupported(file: String, kind: String, key: String)
    /// A down without an up, mismatched ranks, a non-matrix factor.
    case malformed(file: String, key: String, reason: String)
    /// An update whose shape does not fit the model's layer (a LoRA for another model).
    case shapeMismatch(file: String, layer: String, lora: String, model: String)
    /// Layers the LoRA updates that this model does not have.
    case missingLayers(file: String, layers: [String], total: Int)
    /// The file holds no LoRA updates at all.
    case empty(file: String)

    public var description: String {
        func more(_ shown: Int, _ total: Int) -> String { total > shown ? " (and \(total - shown) more)" : "" }
        switch self {
        case .unmappedKeys(let f, let keys, let total):
            return "LoRA \(f): \(total) key(s) match no layer of a Flux DiT or its CLIP text encoder: \(keys.joined(separator: ", "))\(more(keys.count, total))"
        case .unsupported(let f, let kind, let key):
            return "LoRA \(f): \(kind) is not supported (key \(key)); use a plain LoRA (lora_down/lora_up or lora_A/lora_B)"
        case .malformed(let f, let key, let reason): return "LoRA \(f): \(key): \(reason)"
        case .shapeMismatch(let f, let layer, let lora, let model):
            return "LoRA \(f) was made for another model: layer \(layer) is \(model) here, the LoRA's update is \(lora)"
        case .missingLayers(let f, let layers, let total):
            return "LoRA \(f) updates \(total) layer(s) this model does not have: \(layers.joined(separator: ", "))\(more(layers.count, total))"
        case .empty(let f): return "LoRA \(f): no LoRA weights found (expected lora_down/lora_up, lora_A/lora_B or XLabs down/up keys)"
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces.
    var trimmed: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}

extension LoRAUse: Equatable {
    /// What identifies a use: the file read (object identity) and the weight.
    struct Key: Hashable {
        let lora: ObjectIdentifier
        let weight: Float
    }
    var key: Key { Key(lora: ObjectIdentifier(lora), weight: weight) }
    public static func == (a: LoRAUse, b: LoRAUse) -> Bool { a.key == b.key }
}
