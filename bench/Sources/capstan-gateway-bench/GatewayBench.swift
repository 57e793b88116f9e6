import ArgumentParser
import CapstanCore
import CapstanEmbedded
import CapstanGateway
import CapstanKafka
import CapstanModels
import CapstanRedis
import CapstanServing
import Foundation
import Logging
import ServiceLifecycle

/// The predict_e2e benchmark (bench/predict_e2e.sh): a gateway hydrating 20 features from a
/// real redis-server, two real model servers (gRPC ModelInfer), the prediction log to the Kafka
/// mock cluster, under open-loop HTTP load at fixed rates. Everything runs in this process on
/// this machine; the load generator too.
@main
struct GatewayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-gateway-bench", abstract: "End-to-end gateway latency under fixed-rate load.")

    @Option(help: "XGBoost JSON model with 20 features (bench/predict_e2e.sh trains one).")
    var model: String

    @Option(help: "Request rates to measure, comma-separated.")
    var rates: String = "500,1000,2000"

    @Option(help: "Seconds per rate.")
    var seconds: Double = 10

    @Option(help: "Distinct entities with stored features.")
    var entities: Int = 10_000

    @Option(help: "Load-generator connections (threads).")
    var connections: Int = 32

    @Flag(inversion: .prefixedNo, help: "Log predictions to Kafka (the mock cluster), as in production.")
    var predictionLog = true

    func run() async throws {
        var logger = Logger(label: "capstan.bench.gateway")
        logger.logLevel = .error
        LogSetup.bootstrap(level: .error)
        let rateList = rates.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let directory = NSTemporaryDirectory() + "capstan-gateway-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let redis = try await EmbeddedRedis.start(directory: directory + "/redis", logger: logger)
        defer { redis.stop() }

        // 20 features in three views, like three feature views of one entity.
        let views = [("bench_activity", 0..<8), ("bench_purchases", 8..<14), ("bench_engagement", 14..<20)]
        let features = views.flatMap { view, range in range.map { FeatureRef(view: view, feature: "f\($0)") } }
        try await writeFeatures(redis: redis, views: views, logger: logger)

        // Two model servers (v1 and v2 of the same artifact), gRPC on free ports.
        let servers = ["v1", "v2"].map { version in
            var config = ModelServerConfiguration(modelName: "bench", modelVersion: version, storageURI: model, format: .xgboost)
            config.host = "127.0.0.1"
            config.httpPort = 0
            config.grpcPort = 0
            return ModelServer(configuration: config, logger: logger)
        }
        let serverGroup = ServiceGroup(configuration: .init(services: servers.map { .init(service: $0) }, logger: logger))
        let serverTask = Task { try await serverGroup.run() }
        var endpoints: [ModelVersionEndpoint] = []
        for server in servers {
            try await server.waitUntilReady()
            let ports = try await server.listeningPorts()
            let version = server.configuration.modelVersion
            endpoints.append(ModelVersionEndpoint(name: version, host: "127.0.0.1", port: ports.grpc!, serverModel: "bench", serverVersion: version))
        }

        let kafka = try KafkaMockCluster(brokers: 1, logger: logger)
        try await kafka.createTopic("predictions", partitions: 2)
        var configuration = GatewayConfiguration(models: [ModelRoute(name: "bench", entity: "user_id", features: features, versions: endpoints)])
        configuration.redisConnections = 4
        let httpPort = try Loopback.freePort()
        let service = try GatewayService(
            configuration: configuration, redisURL: redis.url, kafka: predictionLog ? KafkaConfig(bootstrapServers: kafka.bootstrapServers) : nil,
            host: "127.0.0.1", httpPort: httpPort, grpcPort: nil, registry: nil, logger: logger)
        _ = try service.gateway.router.setSplit(model: "bench", TrafficSplit(weights: ["v1": 90, "v2": 10], sticky: true))
        let gatewayGroup = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let gatewayTask = Task { try await gatewayGroup.run() }
        let deadline = ContinuousClock.now + .seconds(30)
        while !service.gateway.isReady || (try? HTTPConnection(port: httpPort)) == nil {
            guard ContinuousClock.now < deadline else { throw CapstanError(.unavailable, "the gateway did not become ready") }
            try await Task.sleep(for: .milliseconds(50))
        }

        let entityCount = entities
        let requests: [[UInt8]] = (0..<entityCount).map { i in
            let body = "{\"entity\":\"e\(i)\"}"
            return Array("POST /v1/models/bench:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        }
        let health = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        let generator = LoadGenerator(port: httpPort, connections: connections)
        Console.line("predict_e2e: 20 features from 3 Redis hashes per request, 2 model servers (gRPC, 90/10 sticky split), prediction log to Kafka (mock); open-loop load, \(connections) connections, \(seconds) s per rate; loaded 2-core machine")
        _ = try await Self.offload { try generator.run(rate: 300, seconds: 2, request: { requests[$0 % entityCount] }) }  // warm-up

        let anchorRate = rateList.max() ?? 2000
        let anchor = try await Self.offload { try generator.run(rate: anchorRate, seconds: min(5, seconds), request: { _ in health }) }
        Console.line(String(format: "anchor  GET /healthz  %6.0f rps: p50 %.2f ms  p95 %.2f ms  p99 %.2f ms (HTTP + load generator floor)", anchorRate, anchor.percentile(50), anchor.percentile(95), anchor.percentile(99)))

        var last: (Double, LoadGenerator.Result)?
        for rate in rateList {
            let result = try await Self.offload { try generator.run(rate: rate, seconds: seconds, request: { requests[$0 % entityCount] }) }
            let achieved = Double(result.sent) / result.seconds
            Console.line(String(
                format: "predict %6.0f rps (achieved %6.0f): p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.1f ms  errors %d%@",
                rate, achieved, result.percentile(50), result.percentile(95), result.percentile(99), result.percentile(100), result.errors,
                result.firstError.map { " (first: \($0))" } ?? ""))
            last = (rate, result)
        }
        if let log = service.gateway.predictionLog {
            Console.line("prediction log: \(log.acceptedCount) queued, \(log.handedToKafkaCount) handed to Kafka, \(log.droppedCount) dropped")
        }
        await gatewayGroup.triggerGracefulShutdown()
        try? await gatewayTask.value
        await serverGroup.triggerGracefulShutdown()
        try? await serverTask.value
        guard let (rate, result) = last else { throw ValidationError("no rates given") }
        Console.line(String(format: "RESULT predict_e2e rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f", rate, result.percentile(50), result.percentile(95), result.percentile(99)))
    }

    /// Runs the blocking load generator off the cooperative pool.
    static func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let thread = DedicatedThreadExecutor(name: "capstan.bench.load")
        defer { thread.shutdown() }
        return try await thread.run(body)
    }

    func writeFeatures(redis: EmbeddedRedis, views: [(String, Range<Int>)], logger: Logger) async throws {
        let connection = try await RedisConnection.connect(try RedisConfig(url: redis.url), logger: logger)
        var rng = SystemRandomNumberGenerator()
        let now = EpochMillis.now()
        var batch: [[String]] = []
        for i in 0..<entities {
            for (view, range) in views {
                var command = ["HSET", "cap:\(view):e\(i)", "_ts", String(now - Int64.random(in: 0...60_000, using: &rng))]
                for f in range where Int.random(in: 0..<50, using: &rng) != 0 {  // ~2% missing
                    command += ["f\(f)", String(Double.random(in: 0...100, using: &rng).rounded() / 4)]
                }
                batch.append(command)
            }
            if batch.count >= 3_000 {
                _ = try await connection.pipeline(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { _ = try await connection.pipeline(batch) }
        await connection.close()
    }
}
