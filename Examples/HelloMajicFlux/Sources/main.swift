// Usage: HelloMajicFlux [MODEL_FOLDER] [OUTPUT.png]   (defaults: the repository's Models/default, hello.png)
import MajicFlux

let arguments = CommandLine.arguments
let pipeline = try FluxPipeline(modelDirectory: arguments.count > 1 ? arguments[1] : "../../Models/default", device: .auto)
var request = GenerationRequest(prompt: "a red circle on the left on a white background", seed: 1,
                                width: pipeline.preferredImageSize, height: pipeline.preferredImageSize)
request.maxSequenceLength = pipeline.preferredSequenceLength
let image = try await pipeline.generate(request)
try image.png.write(to: arguments.count > 2 ? arguments[2] : "hello.png")
print("wrote a \(image.width)x\(image.height) picture, made on \(pipeline.backend.name)")
