import ArgumentParser
import Foundation
import Models

/// Limits on LoRA weights and counts, the same on the command line and in the HTTP API.
enum LoRALimits {
    /// Weights outside this range only wreck the picture (1 = as trained; negative weights invert a
    /// LoRA, which some styles are made for).
    static let weights: ClosedRange<Float> = -10...10
    /// Most LoRAs one console job may use.
    static let perJob = 8

    /// nil when `weight` is usable, else what is wrong with it ("must be ..., got ...").
    static func problem(_ weight: Double) -> String? {
        guard weight.isFinite else { return "must be a finite number between \(Int(weights.lowerBound)) and \(Int(weights.upperBound)), got \(weight)" }
        guard Double(weights.lowerBound)...Double(weights.upperBound) ~= weight else {
            return "must be between \(Int(weights.lowerBound)) and \(Int(weights.upperBound)), got \(text(Float(weight)))"
        }
        return nil
    }
}

/// `--lora PATH[:WEIGHT]`: a LoRA file and its weight (1 when left out). Only a trailing `:number`
/// is a weight, so paths holding ':' work (`a:b.safetensors`, or `a:b.safetensors:0.5`); a file whose
/// name itself ends in `:number` is given with its weight (`x:2:1`).
struct LoRAArgument: Equatable {
    var path: String
    var weight: Float

    init(path: String, weight: Float = 1) {
        self.path = path
        self.weight = weight
    }

    /// The path, and the number after the last ':' when there is one.
    static func split(_ argument: String) -> (path: String, weight: Double?) {
        guard let colon = argument.lastIndex(of: ":"), colon != argument.startIndex,
              let w = Double(argument[argument.index(after: colon)...]) else { return (argument, nil) }
        return (String(argument[..<colon]), w)
    }

    /// `argument` checked: a weight that is a number in `LoRALimits.weights`, a path that is not
    /// empty. Throws a `ValidationError` naming the argument.
    static func parse(_ argument: String) throws -> LoRAArgument {
        if argument.hasSuffix(":") {
            throw ValidationError("--lora \(argument): nothing after the ':'; give a weight (PATH:0.8) or leave the ':' out")
        }
        let (path, weight) = split(argument)
        if path.isEmpty { throw ValidationError("--lora \(argument): no file given; use --lora PATH[:WEIGHT]") }
        if let weight, let problem = LoRALimits.problem(weight) {
            throw ValidationError("--lora \(argument): the weight \(problem)")
        }
        return LoRAArgument(path: path, weight: weight.map { Float($0) } ?? 1)
    }

    /// Reads the file (before any model weights load, so that a bad file fails at once). Errors name
    /// the argument: a missing file (with a hint when the text after ':' was meant as a weight), a
    /// folder, or a file that is not a LoRA (`LoRAError`, `TensorError`).
    func read(given argument: String) throws -> LoRA {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            var message = "--lora \(argument): no such file \(path)"
            if let colon = argument.lastIndex(of: ":"), FileManager.default.fileExists(atPath: String(argument[..<colon])) {
                message += " (the weight after the last ':' must be a number, e.g. \(argument[..<colon]):0.8)"
            }
            throw CLIError(message)
        }
        if isFolder.boolValue { throw CLIError("--lora \(argument): \(path) is a folder; give a LoRA .safetensors file") }
        do {
            return try LoRA(contentsOf: path)
        } catch let e as LoRAError {
            throw CLIError("--lora \(argument): \(e)")
        } catch {
            throw CLIError("--lora \(argument): \(path) is not a readable LoRA .safetensors file: \(error)")
        }
    }
}
