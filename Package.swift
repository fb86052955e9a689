// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MajicFlux",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Quant", targets: ["Quant"]),
        .library(name: "Models", targets: ["Models"]),
        // The library for other Swift projects: re-exports Models and Tensor (README, "Use it as a library").
        .library(name: "MajicFlux", targets: ["MajicFlux"]),
        .executable(name: "majicflux", targets: ["App"]),
        .executable(name: "tensor-bench", targets: ["TensorBench"]),
        .executable(name: "cuda-check", targets: ["CUDACheck"]),
        .executable(name: "flux-bench", targets: ["FluxBench"]),
        .executable(name: "big-model-bench", targets: ["BigModelBench"]),
        .executable(name: "queue-bench", targets: ["QueueBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Already in Hummingbird's graph; named here because the console stops its server gracefully.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.5.0"),
        // Already in Hummingbird's graph; named because the console sets the HTTP server's idle timeout (NIOCore.TimeAmount).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.0.0"),
        // The PostgreSQL job store (`--queue postgres://...`, `majicflux worker`).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The embedded job store (issue 19): SQLite through GRDB (apt: libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // C libraries found through pkg-config (apt: libopenblas-dev, libpng-dev, zlib1g-dev, libjpeg62-turbo-dev).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev", "zlib1g-dev"])]),
        // libjpeg-turbo; its shim keeps libjpeg's setjmp/longjmp error handling inside C.
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),

        .systemLibrary(name: "CWebP", path: "Sources/CWebP", pkgConfig: "libwebp",
                       providers: [.apt(["libwebp-dev"])]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CPNG", "CJPEG", "CWebP"]),
        .target(name: "Quant", dependencies: ["Tensor", "COpenBLAS"]),
        .target(name: "Models", dependencies: ["Tensor", "Quant"], exclude: ["Tokenizers/README.md"]),
        .target(name: "MajicFlux", dependencies: ["Models", "Tensor"]),
        // The command line and the web console live in a library so that tests can start the server.
        .target(name: "MajicFluxApp", dependencies: [
            "Tensor", "Quant", "Models",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "App", dependencies: ["MajicFluxApp", "Tensor"]),

        .executableTarget(name: "TensorBench", dependencies: ["Tensor"], path: "Examples/TensorBench"),
        // Checks and times the CUDA backend on a GPU machine (cuda-check ops|pipeline|dit|gemm|kernels).
        .executableTarget(name: "CUDACheck", dependencies: ["Tensor", "Quant", "Models"], path: "Examples/CUDACheck"),
        .executableTarget(name: "FluxBench", dependencies: ["Models", "Tensor"], path: "Examples/FluxBench"),
        .executableTarget(name: "BigModelBench", dependencies: ["Models", "Quant", "Tensor"], path: "Examples/BigModelBench"),
        // The job queue's latency and throughput with a trivial job (PostgreSQL, embedded SQLite).
        .executableTarget(name: "QueueBench", dependencies: ["MajicFluxApp"], path: "Examples/QueueBench"),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Quant", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CUDATests", dependencies: ["Tensor"]),
        .testTarget(name: "AppTests", dependencies: ["MajicFluxApp", "Models", "Tensor",
                                                   .product(name: "PostgresNIO", package: "postgres-nio")]),
        .testTarget(name: "MajicFluxTests", dependencies: ["MajicFlux"]),
    ],
    // Swift 6 language mode: complete strict-concurrency checking in every target.
    swiftLanguageModes: [.v6]
)
