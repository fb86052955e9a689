import Foundation
import Models

/// Messages to the terminal (stderr, so stdout stays clean for piping). A write that fails (the
/// reader of a log pipe went away, the SSH session that started a server ended) is dropped: it
/// crashed `serve` (FileHandle.write's `try!` on EPIPE).
enum Console {
    static func info(_ s: String) { write(s + "\n") }
}

/// A one-line progress bar with step count, speed and time left.
final class ProgressBar {
    let total: Int
    private var lastStepTime: Double = 0
    private var firstDenoiseTime: Double?

    init(total: Int) { self.total = total }

    func update(_ p: GenerationProgress) {
        switch p.stage {
        case .encodingText: Console.write("\rencoding prompt...")
        case .decoding: Console.write("\r\(bar(total)) \(total)/\(total) decoding...          ")
        case .denoising:
            if p.step == 0 { firstDenoiseTime = p.elapsed }
            let done = Double(p.step)
            let start = firstDenoiseTime ?? 0
            let perStep = done > 0 ? (p.elapsed - start) / done : 0
            let left = perStep * Double(total - p.step)
            let speed = done > 0 ? String(format: "%.2fs/it", perStep) : "--"
            Console.write("\r\(bar(p.step)) \(p.step)/\(total) \(speed) ETA \(Int(left.rounded()))s   ")
        }
    }

    func finish() { Console.write("\n") }

    private func bar(_ step: Int) -> String {
        let width = 30
        let filled = total > 0 ? width * step / total : width
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }
}

extension Console {
    static func write(_ s: String) { try? FileHandle.standardError.write(contentsOf: Data(s.utf8)) }
}
