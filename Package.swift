// swift-tools-version: 6.0
import PackageDescription

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "BoehmGC",
    products: [
        .library(name: "BoehmGC", targets: ["BoehmGC"]),
        .library(name: "GCPorts", targets: ["GCPorts"]),
        // The C API: one header, bgc.h, for a C target that depends on it.
        .library(name: "BoehmGCForC", targets: ["BoehmGCForC"]),
    ],
    dependencies: [
        // Tools and benchmarks only: the library targets depend on nothing.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        // `swift package generate-documentation` (DocC catalogs); a command plugin only.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
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
        // C, on top of the shim; it calls into BoehmGC (Swift) for what lives
        // there (the start, configuration, accounting, hooks), so depends on it.
        .target(name: "BoehmGCForC", dependencies: ["CGCSupport", "CBoehmGC", "BoehmGC"]),
        // One support target for the test targets: helpers, child processes, exit-test reports.
        .target(name: "TestSupport", dependencies: ["BoehmGC", "CTestSupport"], path: "Tests/TestSupport"),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .testTarget(name: "GCPortsTests", dependencies: ["GCPorts", "BoehmGC", "TestSupport"]),
        .executableTarget(
            name: "transcode", dependencies: ["GCPorts", argumentParser], path: "Sources/Transcode"),
        .target(name: "BenchmarkSupport", dependencies: ["BoehmGC"], path: "Benchmarks/Support"),
        .target(
            name: "BenchmarkDriverSupport",
            dependencies: [
                "BenchmarkSupport", argumentParser, .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Benchmarks/DriverSupport"),
        .testTarget(name: "BenchmarkSupportTests", dependencies: ["BenchmarkSupport", "BoehmGC"]),
        .executableTarget(
            name: "core-bench",
            dependencies: ["BoehmGC", "CFloor", "BenchmarkSupport", "BenchmarkDriverSupport", argumentParser],
            path: "Benchmarks/CoreBench"),
        // A driver depends on its measured child so that `swift run NAME` builds both.
        .executableTarget(
            name: "foreign-bench",
            dependencies: ["foreign-bench-child", "BenchmarkSupport", "BenchmarkDriverSupport", argumentParser],
            path: "Benchmarks/ForeignBench"),
        .executableTarget(
            name: "foreign-bench-child", dependencies: ["BoehmGC", "GCPorts", "BenchmarkSupport"],
            path: "Benchmarks/ForeignBenchChild"),
        .executableTarget(
            name: "pressure-bench", dependencies: ["BoehmGC", "BenchmarkSupport"], path: "Benchmarks/PressureBench"),
        // The load-shedding example: a server under a memory limit, with and without the monitor,
        // and its driver, which runs it under scripts/under-memory-limit.sh.
        .executableTarget(
            name: "load-shedding",
            dependencies: ["load-shedding-server", "BenchmarkSupport", "BenchmarkDriverSupport", argumentParser],
            path: "Benchmarks/LoadShedding"),
        .executableTarget(
            name: "load-shedding-server", dependencies: ["BoehmGC", "BenchmarkSupport"],
            path: "Benchmarks/LoadSheddingServer"),
        .executableTarget(
            name: "port-churn",
            dependencies: ["port-churn-child", "BenchmarkSupport", "BenchmarkDriverSupport", argumentParser],
            path: "Benchmarks/PortChurn"),
        .executableTarget(
            name: "port-churn-child", dependencies: ["BoehmGC", "GCPorts", "BenchmarkSupport"],
            path: "Benchmarks/PortChurnChild"),
        .target(name: "CFloor", dependencies: ["CBoehmGC"], path: "Benchmarks/CFloor"),
        .executableTarget(
            name: "weak-table-bench",
            dependencies: ["BoehmGC", "CFloor", "BenchmarkSupport", "BenchmarkDriverSupport", argumentParser],
            path: "Benchmarks/WeakTableBench"),
        .target(
            name: "InteropC", dependencies: ["BoehmGCForC"], path: "Benchmarks/InteropC",
            linkerSettings: [.linkedLibrary("z"), .linkedLibrary("gmp")]),
        .executableTarget(
            name: "interop-bench",
            dependencies: ["interop-bench-child", "BenchmarkSupport", "BenchmarkDriverSupport", argumentParser],
            path: "Benchmarks/InteropBench"),
        .executableTarget(
            name: "interop-bench-child", dependencies: ["InteropC", "BoehmGC", "BenchmarkSupport"],
            path: "Benchmarks/InteropBenchChild"),
        .testTarget(name: "BoehmGCTests", dependencies: ["BoehmGC", "TestSupport", "CInterop"]),
        .executableTarget(name: "gc-shapes", dependencies: ["BoehmGC", "GCPorts"], path: "Tests/Shapes"),
        // Every public type at once from pthreads, Dispatch and tasks, then the invariants checked
        // (`swift run -c release stress`; CI runs it).
        .executableTarget(
            name: "stress", dependencies: ["BoehmGC", "GCPorts", argumentParser], path: "Tests/Stress"),
        // The heap-limit and memory-pressure tests' child process.
        .executableTarget(
            name: "gc-pressure-child", dependencies: ["BoehmGC", "BenchmarkSupport"], path: "Tests/PressureChild"),
        // C code that uses the C API only (bgc.h), with zlib and GMP (Debian's
        // zlib1g-dev and libgmp-dev), and the shapes it runs in child processes.
        .target(
            name: "CInterop", dependencies: ["BoehmGCForC"], path: "Tests/CInterop",
            linkerSettings: [.linkedLibrary("z"), .linkedLibrary("gmp")]),
        .executableTarget(name: "c-shapes", dependencies: ["CInterop", "BoehmGC"], path: "Tests/CShapes"),
    ],
    swiftLanguageModes: [.v6]
)
