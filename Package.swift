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

/// The data plane's per-record loops (the feature engine, the upload transform, row encoding):
/// exclusivity is still checked at compile time, but not again at run time on every access to
/// a class's stored property, which cost ~13 % of the upload gateway's CPU (perf: swift_beginAccess,
/// AccessSet::insert and their TLS lookups). Release builds only; debug builds (tests) keep the checks.
let hotLoopSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "capstan",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "capstan", targets: ["capstan"]),
        .executable(name: "capstan-feature-worker", targets: ["capstan-feature-worker"]),
        .executable(name: "capstan-apiserver", targets: ["capstan-apiserver"]),
        // MARK: operator (products)
        .executable(name: "capstan-operator", targets: ["capstan-operator"]),
        .executable(name: "capstan-serving", targets: ["capstan-serving"]),
        .executable(name: "capstan-ingest", targets: ["capstan-ingest"]),
        .executable(name: "capstan-drift", targets: ["capstan-drift"]),
        .executable(name: "capstan-batch", targets: ["capstan-batch"]),
        // Libraries for the benchmark package (bench/Package.swift); no product of its own links them.
        .library(
            name: "CapstanLibraries",
            targets: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanModels", "CapstanStore", "CapstanKafka", "CapstanRedis",
                "CapstanPostgres", "CapstanEmbedded", "CapstanGenerator", "CapstanFeatureWorker", "CapstanGateway", "CapstanServing",
                "CapstanIngest", "CapstanOffline", "CapstanKube", "CapstanKubeRuntime", "CapstanOperator", "CapstanDrift", "CapstanDriftMonitor", "CapstanPredictionLog", "CapstanBatch",
                "CapstanBatchSteps", "CapstanBatchKube",
            ]),
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
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // MARK: C bindings (Debian -dev packages, found through pkg-config)
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // MARK: Shared foundations
        .target(
            name: "CapstanCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OrderedCollections", package: "swift-collections"),
            ],
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
            swiftSettings: hotLoopSettings
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
            swiftSettings: hotLoopSettings
        ),
        // Flags shared by the executables (@OptionGroup): Kafka, Redis, PostgreSQL, views, listen,
        // operations endpoint, log level.
        .target(
            name: "CapstanCommandLine",
            dependencies: [
                "CapstanCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanCommandLineTests",
            dependencies: ["CapstanCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
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
            dependencies: ["CapstanCore", "CapstanKafka", "CapstanPostgres", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // MARK: Drift statistics (pure Swift; equal to scipy's and Evidently's, see Tests/Python/drift_reference.py)
        .target(
            name: "CapstanDrift",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanDriftTests",
            dependencies: ["CapstanDrift", "CapstanEmbedded", "CapstanCore"],
            swiftSettings: swiftSettings
        ),
        // The monitor: reads windows from the offline store, runs a policy, stores the results,
        // alerts (Alertmanager, signed webhooks, Events), renders the HTML report, serves metrics.
        .target(
            name: "CapstanDriftMonitor",
            dependencies: [
                "CapstanDrift", "CapstanAPI", "CapstanCore", "CapstanPostgres", "CapstanRedis", "CapstanStore", "CapstanOffline", "CapstanKube",
                "CapstanKubeRuntime", "CCurl",
                "CLibCrypto",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The batch orchestrator: DAG plans, schedules, the PostgreSQL run ledger, the runner and
        // its process and SQL steps (Capstan's own step kinds are in CapstanBatchSteps, above).
        .target(
            name: "CapstanBatch",
            dependencies: [
                "CapstanAPI", "CapstanCore", "CapstanPostgres", "CLibCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Capstan's own step kinds (backfill, trainingSet, materialize, registerModel,
        // driftCheck) over the domain modules, and the catalog of definitions they look up.
        .target(
            name: "CapstanBatchSteps",
            dependencies: [
                "CapstanBatch", "CapstanAPI", "CapstanCore", "CapstanFeatures", "CapstanStore", "CapstanOffline", "CapstanDriftMonitor",
                "CapstanPostgres", "CapstanRedis", "CapstanKube",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanBatchStepsTests",
            dependencies: [
                "CapstanBatchSteps", "CapstanBatch", "CapstanAPI", "CapstanCore", "CapstanStore", "CapstanOffline", "CapstanDriftMonitor", "CapstanPostgres",
                "CapstanRedis", "CapstanKube", "CapstanKubeServer", "CapstanKubeRuntime", "CapstanOperator", "CapstanEmbedded", "CapstanStoreTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test fixtures shared by test targets that need PostgreSQL and Redis with the offline
        // store (servers started once per test process, a fresh database per test).
        .target(
            name: "CapstanStoreTestSupport",
            dependencies: [
                "CapstanAPI", "CapstanCore", "CapstanEmbedded", "CapstanFeatures", "CapstanOffline", "CapstanPostgres", "CapstanRedis", "CapstanStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/CapstanStoreTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanBatchTests",
            dependencies: [
                "CapstanBatch", "CapstanBatchCommands", "CapstanAPI", "CapstanCore", "CapstanPostgres", "CapstanEmbedded", "CapstanTelemetry",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // `capstan batch` / `capstan-batch`: run, schedule, inspect, resume and cancel BatchJob runs.
        .target(
            name: "CapstanBatchCommands",
            dependencies: [
                "CapstanBatch", "CapstanBatchSteps", "CapstanBatchKube", "CapstanAPI", "CapstanCore", "CapstanCommandLine", "CapstanEmbedded",
                "CapstanKube", "CapstanPostgres", "CapstanRedis", "CapstanTelemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan-batch",
            dependencies: ["CapstanBatchCommands", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // The batch orchestrator on Kubernetes: a step as a Job (an Indexed Job for a fan-out), its
        // outcome from the Job and its pods, and the BatchJob's status and Events from a run.
        .target(
            name: "CapstanBatchKube",
            dependencies: [
                "CapstanBatch", "CapstanKube", "CapstanKubeRuntime", "CapstanAPI", "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanBatchKubeTests",
            dependencies: [
                "CapstanBatchKube", "CapstanBatch", "CapstanKube", "CapstanKubeRuntime", "CapstanKubeServer", "CapstanAPI", "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The prediction log: the gateway's `predictions` topic → capstan_predictions, exactly once.
        .target(
            name: "CapstanPredictionLog",
            dependencies: [
                "CapstanCore", "CapstanKafka", "CapstanPostgres", "CapstanStore", "CapstanTelemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanPredictionLogTests",
            dependencies: [
                "CapstanPredictionLog", "CapstanGateway", "CapstanEmbedded", "CapstanKafka", "CapstanPostgres", "CapstanStore", "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan-drift",
            dependencies: [
                "CapstanDriftMonitor", "CapstanPredictionLog", "CapstanKafka", "CapstanCommandLine", "CapstanCore", "CapstanKube", "CapstanKubeRuntime", "CapstanPostgres",
                "CapstanTelemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanDriftMonitorTests",
            dependencies: ["CapstanDriftMonitor", "CapstanDrift", "CapstanAPI", "CapstanEmbedded", "CapstanCore", "CapstanPostgres", "CapstanRedis", "CapstanStore", "CapstanOffline"],
            swiftSettings: swiftSettings
        ),

        // MARK: Kubernetes (client over libcurl; in-process API server)
        .target(
            name: "CapstanKube",
            dependencies: [
                "CCurl", "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanKubeServer",
            dependencies: [
                "CapstanKube", "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Controller runtime (watch, cache, queue, reconcile loop; knows no Capstan kind)
        .target(
            name: "CapstanKubeRuntime",
            dependencies: [
                "CapstanCore", "CapstanKube",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanKubeRuntimeTests",
            dependencies: [
                "CapstanKubeRuntime", "CapstanKube", "CapstanKubeServer", "CapstanCore",
                .product(name: "Logging", package: "swift-log"),
            ],
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
            swiftSettings: hotLoopSettings
        ),

        // MARK: Gateway (serving: hydration, traffic, prediction log)
        .target(
            name: "CapstanGateway",
            dependencies: [
                "CapstanCore", "CapstanRedis", "CapstanKafka", "CapstanInference", "CapstanTelemetry",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),


        // MARK: Executables
        .executableTarget(
            name: "capstan-feature-worker",
            dependencies: [
                "CapstanCommandLine", "CapstanCore", "CapstanAPI", "CapstanFeatureWorker", "CapstanTelemetry", "CapstanKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan",
            dependencies: [
                "CapstanCommandLine", "CapstanCore", "CapstanAPI", "CapstanFeatureWorker", "CapstanEmbedded", "CapstanTelemetry", "CapstanGenerator", "CapstanStore",
                "CapstanRedis", "CapstanPostgres", "CapstanKafka", "CapstanGateway", "CapstanServing", "CapstanModels", "CapstanIngest",
                "CapstanOperator", "CapstanKube", "CapstanKubeServer",  // operator demo
                "CapstanOffline", "CapstanFeatures", "CapstanDriftMonitor", "CapstanBatch", "CapstanBatchSteps", "CapstanBatchCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "capstan-apiserver",
            dependencies: [
                "CapstanCore", "CapstanKubeServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: operator
        .target(
            name: "CapstanOperator",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanKube", "CapstanKubeRuntime",
                "CapstanDriftMonitor",  // DriftPolicyValidation: the checks `capstan drift run` and driftCheck steps share
                "CapstanBatch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan-operator",
            dependencies: [
                "CapstanCommandLine", "CapstanCore", "CapstanAPI", "CapstanOperator", "CapstanKube", "CapstanTelemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanOperatorTests",
            dependencies: [
                "CapstanOperator", "CapstanAPI", "CapstanFeatures", "CapstanCore", "CapstanKube", "CapstanFeatureWorker", "CapstanKubeServer",
                "CapstanKubeRuntime", "CapstanEmbedded", "CapstanBatch", "CapstanBatchKube",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Serving (Open Inference Protocol types and gRPC stubs, model server, capstan-serving)
        .target(
            name: "CapstanInference",
            dependencies: [
                "CapstanCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CapstanServing",
            dependencies: [
                "CapstanCore", "CapstanInference", "CapstanModels", "CapstanTelemetry", "CCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "capstan-serving",
            dependencies: [
                "CapstanCommandLine", "CapstanCore", "CapstanServing", "CapstanModels", "CapstanTelemetry", "CapstanGateway", "CapstanKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanServingTests",
            dependencies: [
                "CapstanServing", "CapstanInference", "CapstanModels", "CapstanCore", "CapstanEmbedded",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Batch ingestion (capstan-ingest gateway, capstan upload)
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "CapstanIngest",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanStore", "CapstanPostgres", "CapstanRedis",
                "CapstanTelemetry", "CZlib", "CLibCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: hotLoopSettings
        ),
        // The HTTP/2 transport (and the TLS stack it pulls in) is linked by the gateway only.
        .executableTarget(
            name: "capstan-ingest",
            dependencies: [
                "CapstanCommandLine", "CapstanCore", "CapstanIngest", "CapstanTelemetry", "CapstanFeatureWorker", "CapstanPostgres", "CapstanRedis", "CapstanOfflineHTTP",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanIngestTests",
            dependencies: [
                "CapstanIngest", "CapstanAPI", "CapstanFeatures", "CapstanFeatureWorker", "CapstanEmbedded", "CapstanStore",
                "CapstanPostgres", "CapstanRedis", "CapstanCore", "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Offline: point-in-time training sets, backfills, lineage
        .target(
            name: "CapstanOffline",
            dependencies: [
                "CapstanCore", "CapstanAPI", "CapstanFeatures", "CapstanStore", "CapstanPostgres", "CapstanRedis", "CapstanIngest",
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
        .testTarget(
            name: "CapstanOfflineTests",
            dependencies: [
                "CapstanOffline", "CapstanOfflineHTTP", "CapstanStore", "CapstanFeatures", "CapstanAPI", "CapstanEmbedded",
                "CapstanPostgres", "CapstanRedis", "CapstanCore", "CapstanIngest", "CapstanStoreTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests (Swift Testing)
        .testTarget(
            name: "CapstanFeaturesTests",
            dependencies: ["CapstanFeatures", "CapstanAPI", "CapstanCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanModelsTests",
            dependencies: ["CapstanModels", "CapstanCore", "CapstanEmbedded"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanKafkaTests",
            dependencies: ["CapstanKafka"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanRedisTests",
            dependencies: ["CapstanRedis", "CapstanEmbedded", "CapstanCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanEmbeddedTests",
            dependencies: ["CapstanEmbedded"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanPostgresTests",
            dependencies: ["CapstanPostgres", "CapstanEmbedded", "CapstanCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CapstanKubeTests",
            dependencies: [
                "CapstanKube", "CapstanKubeServer", "CapstanCore", "CapstanEmbedded",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
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
        // MARK: Gateway tests
        .testTarget(
            name: "CapstanGatewayTests",
            dependencies: [
                "CapstanGateway", "CapstanEmbedded", "CapstanRedis", "CapstanKafka", "CapstanCore", "CapstanServing",
                "CapstanModels", "CapstanOperator", "CapstanKubeRuntime", "CapstanAPI",  // the operator → gateway contract test
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
