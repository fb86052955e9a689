// Usage: HelloMajicFlux [MODEL_FOLDER] [OUTPUT.png]   (defaults: the repository's Models/default, hello.png)
// An async `main`: top-level code would pick the blocking `generate` overload.
import MajicFlux

@main struct HelloMajicFlux {
    static func main() async throws {
        OpenBLASSetup.prepareProcess()  // first, before other threads: OpenBLAS's fast kernels on CPUs it does not know
        let pipeline = try FluxPipeline(modelDirectory: CommandLine.arguments.dropFirst().first ?? "../../Models/default", device: .auto)
        let image = try await pipeline.generate(pipeline.request(prompt: "a red circle on the left on a white background", seed: 1))
        try image.png.write(to: CommandLine.arguments.dropFirst(2).first ?? "hello.png")
    }
}
