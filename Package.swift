// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "BoehmGC",
    products: [
        .library(name: "BoehmGC", targets: ["BoehmGC"]),
        .library(name: "GCPorts", targets: ["GCPorts"]),
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
        .target(name: "BenchmarkSupport", dependencies: ["BoehmGC"], path: "Benchmarks/Support"),
        .testTarget(name: "BenchmarkSupportTests", dependencies: ["BenchmarkSupport", "BoehmGC"]),
        .executableTarget(name: "core-bench", dependencies: ["BoehmGC"], path: "Benchmarks/CoreBench"),
        .executableTarget(name: "foreign-bench", dependencies: ["BoehmGC", "GCPorts", "BenchmarkSupport"], path: "Benchmarks/ForeignBench"),
        .executableTarget(name: "gc-pressure-child", dependencies: ["BoehmGC"], path: "Benchmarks/PressureChild"),
        .executableTarget(name: "port-churn", dependencies: ["BoehmGC", "GCPorts", "BenchmarkSupport"], path: "Benchmarks/PortChurn"),
        .target(name: "CWeakFloor", dependencies: ["CBoehmGC"], path: "Benchmarks/CWeakFloor"),
        .executableTarget(name: "weak-table-bench", dependencies: ["BoehmGC", "CWeakFloor"], path: "Benchmarks/WeakTableBench"),
        .testTarget(name: "BoehmGCTests", dependencies: ["BoehmGC"]),
        .executableTarget(name: "gc-shapes", dependencies: ["BoehmGC", "GCPorts"], path: "Tests/Shapes"),
    ],
    swiftLanguageModes: [.v6]
)
