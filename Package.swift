// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "BoehmGC",
    products: [
        .library(name: "BoehmGC", targets: ["BoehmGC"]),
    ],
    targets: [
        .systemLibrary(
            name: "CBoehmGC",
            pkgConfig: "bdw-gc",
            providers: [.apt(["libgc-dev"])]
        ),
        .target(name: "CGCSupport", dependencies: ["CBoehmGC"], path: "CSupport"),
        .target(name: "BoehmGC", dependencies: ["CGCSupport", "CBoehmGC"]),
        .executableTarget(name: "core-bench", dependencies: ["BoehmGC"], path: "Benchmarks/CoreBench"),
        .testTarget(name: "BoehmGCTests", dependencies: ["BoehmGC"]),
    ],
    swiftLanguageModes: [.v6]
)
