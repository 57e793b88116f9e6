// swift-tools-version: 6.1
// Capstan: a Kubernetes-native ML data platform. See README.md and docs/architecture.md.
//
// Layering (lower never imports upper):
//   C bindings (CRdKafka, CHiredis, CLibPQ, CCurl)
//     ← client wrappers (CapstanKafka, CapstanRedis, CapstanPostgres) over CapstanCore
//     ← domain (CapstanAPI resource types, CapstanFeatures engine, CapstanStore layouts)
//     ← data-plane programs (CapstanFeatureWorker) and executables.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "capstan",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "capstan", targets: ["capstan"]),
        .executable(name: "capstan-feature-worker", targets: ["capstan-feature-worker"]),
        .executable(name: "capstan-bench", targets: ["capstan-bench"]),
        .executable(name: "capstan-tree-bench", targets: ["capstan-tree-bench"]),
        .executable(name: "capstan-pit-bench", targets: ["capstan-pit-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    ],
    targets: [
        // MARK: C bindings (Debian -dev packages, found through pkg-config)
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // libxgboost is the tree_inference benchmark's anchor only; no product module links it.
        .systemLibrary(name: "CXGBoost", pkgConfig: "xgboost", providers: [.apt(["libxgboost-dev"])]),

        // MARK: Shared foundations
        .target(
            name: "CapstanCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // MARK: Client wrappers
        .target(
            name: "CapstanKafka",
            dependencies: ["CRdKafka", "CapstanCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanRedis",
            dependencies: ["CHiredis", "CapstanCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanPostgres",
            dependencies: ["CLibPQ", "CapstanCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // MARK: Domain
        .target(
            name: "CapstanAPI",
            dependencies: ["CapstanCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanFeatures",
            dependencies: ["CapstanCore", "CapstanAPI"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanModels",
            dependencies: ["CapstanCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanStore",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanRedis", "CapstanPostgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanTelemetry",
            dependencies: [
                "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanEmbedded",
            dependencies: ["CapstanCore", "CapstanKafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // MARK: Data plane
        .target(
            name: "CapstanGenerator",
            dependencies: ["CapstanCore", "CapstanKafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanFeatureWorker",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanStore", "CapstanKafka",
                "CapstanTelemetry", "CapstanRedis", "CapstanPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "capstan-feature-worker",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatureWorker", "CapstanTelemetry", "CapstanKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatureWorker", "CapstanEmbedded", "CapstanTelemetry", "CapstanGenerator", "CapstanStore",
                "CapstanRedis", "CapstanPostgres", "CapstanKafka",
                "CapstanOffline", "CapstanFeatures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan-bench",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatureWorker", "CapstanFeatures", "CapstanEmbedded", "CapstanGenerator", "CapstanKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "capstan-tree-bench",
            dependencies: ["CapstanCore", "CapstanModels", "CapstanGenerator", "CXGBoost"],
            swiftSettings: swiftSettings
        ),

        // MARK: Offline: point-in-time training sets, backfills, lineage
        .target(
            name: "CapstanOffline",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanStore", "CapstanPostgres", "CapstanRedis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanOfflineHTTP",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanOffline", "CapstanPostgres", "CapstanRedis",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan-pit-bench",
            dependencies: [
                "CapstanCore", "CapstanOffline", "CapstanEmbedded", "CapstanPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanOfflineTests",
            dependencies: [
                "CapstanOffline", "CapstanOfflineHTTP", "CapstanStore", "CapstanFeatures", "CapstanAPI", "CapstanEmbedded",
                "CapstanPostgres", "CapstanRedis", "CapstanCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests (Swift Testing)
        .testTarget(
            name: "CapstanFeaturesTests",
            dependencies: ["CapstanFeatures", "CapstanAPI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanModelsTests",
            dependencies: ["CapstanModels", "CapstanCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanKafkaTests",
            dependencies: ["CapstanKafka"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanRedisTests",
            dependencies: ["CapstanRedis", "CapstanEmbedded"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanPostgresTests",
            dependencies: ["CapstanPostgres", "CapstanEmbedded"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanFeatureWorkerTests",
            dependencies: [
                "CapstanAPI", "CapstanFeatureWorker", "CapstanFeatures", "CapstanEmbedded", "CapstanKafka", "CapstanStore", "CapstanGenerator",
                "CapstanPostgres", "CapstanRedis", "CapstanCore", "CapstanTelemetry",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
