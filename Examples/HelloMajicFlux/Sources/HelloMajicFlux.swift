// Usage: HelloMajicFlux [MODEL_FOLDER] [OUTPUT.png]   (defaults: the repository's Models/default, hello.png)
// An async `main`: top-level code would pick the blocking `generate` overload.
import MajicFlux

@main struct HelloMajicFlux {
    static func main() async throws {
        let pipeline = try FluxPipeline(modelDirectory: CommandLine.arguments.dropFirst().first ?? "../../Models/default", device: .auto)
        var request = GenerationRequest(prompt: "a red circle on the left on a white background", seed: 1)
        (request.width, request.height, request.maxSequenceLength) = (pipeline.preferredImageSize, pipeline.preferredImageSize, pipeline.preferredSequenceLength)
        let image = try await pipeline.generate(request)
        try image.png.write(to: CommandLine.arguments.dropFirst(2).first ?? "hello.png")
    }
}
