// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "BoehmGC",
    products: [
        .library(name: "BoehmGC", targets: ["BoehmGC"]),
        .library(name: "GCPorts", targets: ["GCPorts"]),
    ],
    dependencies: [
        // Tools and benchmarks only: the library targets have no dependencies.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(
            name: "CBoehmGC",
            pkgConfig: "bdw-gc",
            providers: [.apt(["libgc-dev"])]
        ),
        .target(name: "CGCSupport", dependencies: ["CBoehmGC"], path: "CSupport"),
        .target(name: "BoehmGC", dependencies: ["CGCSupport", "CBoehmGC"]),
        .target(name: "GCPorts", dependencies: ["BoehmGC"]),
        .testTarget(name: "GCPortsTests", dependencies: ["GCPorts", "BoehmGC"]),
        .executableTarget(
            name: "transcode",
            dependencies: ["GCPorts", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Transcode"),
        .executableTarget(name: "core-bench", dependencies: ["BoehmGC"], path: "Benchmarks/CoreBench"),
        .executableTarget(name: "foreign-bench", dependencies: ["BoehmGC", "GCPorts"], path: "Benchmarks/ForeignBench"),
        .executableTarget(name: "gc-pressure-child", dependencies: ["BoehmGC"], path: "Benchmarks/PressureChild"),
        .executableTarget(name: "port-churn", dependencies: ["BoehmGC", "GCPorts"], path: "Benchmarks/PortChurn"),
        .target(name: "CWeakFloor", dependencies: ["CBoehmGC"], path: "Benchmarks/CWeakFloor"),
        .executableTarget(name: "weak-table-bench", dependencies: ["BoehmGC", "CWeakFloor"], path: "Benchmarks/WeakTableBench"),
        .executableTarget(
            name: "stress",
            dependencies: ["BoehmGC", "GCPorts", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Stress"),
        .testTarget(name: "BoehmGCTests", dependencies: ["BoehmGC"]),
        .executableTarget(name: "gc-shapes", dependencies: ["BoehmGC", "GCPorts"], path: "Tests/Shapes"),
    ],
    swiftLanguageModes: [.v6]
)
