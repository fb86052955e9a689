import Tensor

extension LoRA {
    /// Reads a LoRA safetensors file and maps every update onto our layers. Throws `LoRAError` for
    /// keys that map to no layer (never silently ignored), LyCORIS/DoRA/full-diff files, factors
    /// that do not pair up, and a file without LoRA weights; `TensorError` for a corrupt file.
    public convenience init(contentsOf path: String) throws {
        let file = try SafeTensorsFile(path: path)
        let name = LoRA.displayName(path)
        var groups: [String: (down: String?, up: String?, alpha: String?)] = [:]
        var order: [String] = []
        var unmapped: [String] = []
        for key in file.names {
            if let kind = LoRA.unsupportedKind(key) { throw LoRAError.unsupported(file: name, kind: kind, key: key) }
            guard let (module, role) = LoRA.split(key) else { unmapped.append(key); continue }
            if groups[module] == nil { order.append(module); groups[module] = (nil, nil, nil) }
            switch role {
            case .down: groups[module]!.down = key
            case .up: groups[module]!.up = key
            case .alpha: groups[module]!.alpha = key
            }
        }
        let peftScale = LoRA.peftAlpha(file.metadata)
        var patches: [LoRAPatch] = []
        var formats: Set<LoRAKeyFormat> = []
        for module in order {
            let g = groups[module]!
            guard let (target, format) = LoRAKeys.target(module: module) else {
                unmapped.append(contentsOf: [g.down, g.up, g.alpha].compactMap { $0 })
                continue
            }
            guard let downKey = g.down, let upKey = g.up else {
                throw LoRAError.malformed(file: name, key: module, reason: g.down == nil ? "has an up factor but no down factor" : "has a down factor but no up factor")
            }
            let down = try file.tensor(named: downKey), up = try file.tensor(named: upKey)
            guard down.rank == 2, up.rank == 2 else {
                let kind = down.rank == 4 || up.rank == 4 ? "a convolution LoRA" : "a factor that is not a matrix"
                throw LoRAError.malformed(file: name, key: module, reason: "\(kind): down \(down.shape), up \(up.shape)")
            }
            guard up.shape[1] == down.shape[0], down.shape[0] > 0 else {
                throw LoRAError.malformed(file: name, key: module, reason: "ranks differ: down \(down.shape), up \(up.shape)")
            }
            let rank = Float(down.shape[0])
            var scale: Float = 1
            if let alphaKey = g.alpha {
                let a = try file.tensor(named: alphaKey)
                guard a.count == 1 else { throw LoRAError.malformed(file: name, key: alphaKey, reason: "alpha has shape \(a.shape), expected one value") }
                scale = a.to(.f32).floats()[0] / rank
            } else if format == .diffusers, let alpha = peftScale {
                scale = alpha / rank
            }
            guard scale.isFinite else { throw LoRAError.malformed(file: name, key: module, reason: "alpha is not finite") }
            // A factor holding NaN or infinity turns the whole picture black: refused here, by name.
            let downF = down.to(.f32).contiguous()
            var upF = up.to(.f32).contiguous()
            for (key, t) in [(downKey, downF), (upKey, upF)] where !t.floats().allSatisfy(\.isFinite) {
                throw LoRAError.malformed(file: name, key: key, reason: "holds values that are not finite (NaN or infinity)")
            }
            if target.swapHalves {
                let h = upF.shape[0] / 2
                upF = concat([upF.slice(dim: 0, start: h), upF.slice(dim: 0, start: 0, end: h)], dim: 0)
            }
            patches.append(LoRAPatch(target: target, down: downF, up: upF.contiguous(), scale: scale, sourceKey: module))
            formats.insert(format)
        }
        if !unmapped.isEmpty { throw LoRAError.unmappedKeys(file: name, keys: Array(unmapped.prefix(5)), total: unmapped.count) }
        if patches.isEmpty { throw LoRAError.empty(file: name) }
        self.init(name: name, path: path, formats: formats, patches: patches, metadata: file.metadata)
    }

    /// The file name without folder and `.safetensors`.
    static func displayName(_ path: String) -> String {
        var n = path.split(separator: "/").last.map(String.init) ?? path
        if n.hasSuffix(".safetensors") { n.removeLast(".safetensors".count) }
        return n
    }

    enum Role { case down, up, alpha }

    /// (module key, role) of a tensor name; nil when it is no LoRA factor.
    static func split(_ key: String) -> (String, Role)? {
        let suffixes: [(String, Role)] = [
            (".lora_down.weight", .down), (".lora_up.weight", .up), (".lora_A.weight", .down), (".lora_B.weight", .up),
            (".lora_A.default.weight", .down), (".lora_B.default.weight", .up), (".down.weight", .down), (".up.weight", .up), (".alpha", .alpha),
        ]
        for (s, role) in suffixes where key.hasSuffix(s) { return (String(key.dropLast(s.count)), role) }
        return nil
    }

    /// The LoRA kind a key belongs to when we do not apply it.
    static func unsupportedKind(_ key: String) -> String? {
        let kinds: [(String, String)] = [
            ("lokr_w1", "LyCORIS LoKr"), ("lokr_w2", "LyCORIS LoKr"), ("lokr_t2", "LyCORIS LoKr"),
            ("hada_w1", "LyCORIS LoHa"), ("hada_w2", "LyCORIS LoHa"), ("hada_t1", "LyCORIS LoHa"),
            (".oft_", "LyCORIS OFT"), (".oft_blocks", "LyCORIS OFT"), ("dora_scale", "DoRA"), ("lora_magnitude_vector", "DoRA"),
            (".lora_mid.weight", "LoCon (lora_mid)"), (".diff_b", "a full-weight diff"), (".diff", "a full-weight diff"),
        ]
        return kinds.first { key.contains($0.0) }?.1
    }

    /// lora_alpha from diffusers' `lora_adapter_metadata` (the PEFT config it saves);
    /// nil when absent. Only the transformer's global values are used.
    static func peftAlpha(_ metadata: [String: String]) -> Float? {
        guard let text = metadata["lora_adapter_metadata"], let m = (try? JSONValue.parse(text))?.object else { return nil }
        let cfg = m["transformer.lora_alpha"] ?? m["lora_alpha"]
        return cfg?.double.map { Float($0) }
    }
}
