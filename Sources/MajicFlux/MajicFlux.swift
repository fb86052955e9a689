// The library product: `import MajicFlux` gives what a program needs to make pictures.
//
// - Models: `FluxPipeline` (`init(modelDirectory:device:precision:)`, `generate(_:)` async or
//   blocking, `generationEvents(_:)`), `GenerationRequest`, `GeneratedImage`, `GenerationProgress`,
//   `WeightPrecision`, `FluxModelFiles`, `ModelError`.
// - Tensor: `ComputeDevice`, `PNGImage`/`PNG` to write pictures, `Backend`, `DType`, `Tensor`
//   (what the progress previews and lower-level models hand out).
//
// Quant (weight quantization) stays internal: `WeightPrecision` chooses it.
@_exported import Models
@_exported import Tensor
