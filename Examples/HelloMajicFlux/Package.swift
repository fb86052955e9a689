// swift-tools-version:6.0
// A separate package using MajicFlux the way another project would: by path (a released project
// would use `.package(url: "https://github.com/…/majicflux", from: "…")`). Swift 6 language mode.
import PackageDescription

let package = Package(
    name: "HelloMajicFlux",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its folder's name (the checkout's).
        .package(name: "MajicFlux", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "HelloMajicFlux", dependencies: [.product(name: "MajicFlux", package: "MajicFlux")],
                          path: "Sources"),
    ]
)
