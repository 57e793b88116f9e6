// swift-tools-version: 6.1
// Capstan's benchmarks: a package of their own so that no benchmark executable, and no anchor
// library such as libxgboost, is in the product's target list. It builds against the root
// package's `CapstanLibraries` product. `make bench` runs every script in this folder; each
// script builds what it needs with `swift build --package-path bench`.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let capstan = Target.Dependency.product(name: "CapstanLibraries", package: "capstan")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

let package = Package(
    name: "capstan-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "capstan", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // libxgboost is the tree_inference benchmark's anchor only; no product module links it.
        .systemLibrary(name: "CXGBoost", pkgConfig: "xgboost", providers: [.apt(["libxgboost-dev"])]),
        .executableTarget(name: "capstan-bench", dependencies: [capstan, argumentParser], swiftSettings: swiftSettings),
        .executableTarget(name: "capstan-tree-bench", dependencies: [capstan, "CXGBoost"], swiftSettings: swiftSettings),
        .executableTarget(name: "capstan-operator-bench", dependencies: [capstan, argumentParser, logging], swiftSettings: swiftSettings),
        .executableTarget(
            name: "capstan-gateway-bench", dependencies: [capstan, argumentParser, logging, serviceLifecycle], swiftSettings: swiftSettings),
        .executableTarget(name: "capstan-upload-bench", dependencies: [capstan, argumentParser, serviceLifecycle], swiftSettings: swiftSettings),
        .executableTarget(name: "capstan-pit-bench", dependencies: [capstan, argumentParser], swiftSettings: swiftSettings),
        .executableTarget(name: "capstan-drift-bench", dependencies: [capstan, argumentParser], swiftSettings: swiftSettings),
    ]
)
