import Foundation
import Models

extension LoRAUse {
    /// `<lora:name:weight>`'s weight as the infotext writes it (`1`, `0.8`).
    var weightText: String { LoRALimits.text(weight) }
}

extension LoRALimits {
    /// A weight as A1111 writes it: integers without a fraction, others in the shortest exact form.
    static func text(_ v: Float) -> String { v == v.rounded() && abs(v) < 1e7 ? String(Int(v)) : "\(v)" }
}

extension LoRA {
    /// One line for the console: name, title when it differs, rank, key formats and the models it changes.
    var describe: String {
        let parts = components.map { $0 == .transformer ? "DiT" : "CLIP" }.sorted { $0 > $1 }.joined(separator: "+")
        let shownTitle = title == name ? "" : " \"\(title)\""
        return "\(name)\(shownTitle): rank \(rank), \(formats.map(\.rawValue).sorted().joined(separator: "+")) keys, \(parts)"
    }
}

/// What `--lora-fuse` did to the DiT's weights.
enum LoRAFusionReport {
    static func summary(_ errors: [LoRAFusionError]) -> String {
        guard let worst = errors.max(by: { $0.relativeError < $1.relativeError }) else {
            return "LoRAs ran unfused (the DiT's blocks stream under --vram-budget, so nothing was merged)"
        }
        let mean = errors.map(\.relativeError).reduce(0, +) / Float(errors.count)
        return "LoRAs fused into \(errors.count) layers: worst relative error \(String(format: "%.2e", worst.relativeError)) at \(worst.layer), mean \(String(format: "%.2e", mean))"
    }
}
