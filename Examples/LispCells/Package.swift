// swift-tools-version: 6.0
// An example of using BoehmGC from a package of your own with a C target:
// the cells of a small Lisp runtime, allocated by C and by Swift on one
// heap. Build and run it with `swift run --package-path Examples/LispCells`.
import PackageDescription

let package = Package(
    name: "LispCells",
    dependencies: [
        // Your own package names this one by its path or its git URL.
        .package(name: "BoehmGC", path: "../..")
    ],
    targets: [
        // C code that uses the collector: it depends on the C API's product
        // and includes <bgc.h>.
        .target(name: "Lisp", dependencies: [.product(name: "BoehmGCForC", package: "BoehmGC")]),
        .executableTarget(
            name: "lisp-cells", dependencies: ["Lisp", .product(name: "BoehmGC", package: "BoehmGC")]),
    ]
)
