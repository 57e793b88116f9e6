import CapstanCore
import CapstanKafka
import CapstanRedis
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// A whole gateway process: the engine (readiness and traffic polling, prediction log), the
/// REST API and, optionally, the gRPC API. A swift-service-lifecycle `Service`: run it in a
/// `ServiceGroup`, or call `run()` and cancel the task to stop.
public final class GatewayService: Service, Sendable {
    public let gateway: Gateway
    public let httpPort: Int
    public let grpcPort: Int?
    private let http: any Service
    private let host: String
    private let bearerToken: String?
    private let producer: KafkaProducer?
    private let logger: Logger

    /// - Parameters:
    ///   - redisURL: overrides the configuration's `redis`.
    ///   - kafka: where the prediction log goes (nil, or no `predictionLog` topic: not logged).
    ///   - grpcPort: nil = no gRPC API.
    ///   - bearerToken: required on every API call when set (else read from the environment
    ///     variable the configuration names, if any).
    public init(
        configuration: GatewayConfiguration, redisURL: String?, kafka: KafkaConfig?, host: String, httpPort: Int, grpcPort: Int?,
        bearerToken: String? = nil, registry: PrometheusCollectorRegistry?,
        backends: InferenceBackendFactory? = nil, logger: Logger
    ) throws {
        guard let url = redisURL ?? configuration.redisURL else {
            throw CapstanError(.invalidArgument, "no Redis URL: set 'redis' in the gateway configuration or pass --redis")
        }
        var redis = try RedisConfig(url: url)
        redis.connectTimeout = .seconds(1)
        redis.commandTimeout = .seconds(2)
        redis.reconnectAttempts = 2
        redis.reconnectBackoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(200))
        var log: PredictionLog?
        if let kafka, let topic = configuration.predictionTopic {
            let producer = try KafkaProducer(config: kafka, logger: logger)
            self.producer = producer
            log = PredictionLog(producer: producer, topic: topic, capacity: configuration.predictionQueueCapacity, logger: logger)
        } else {
            producer = nil
        }
        var token = bearerToken
        if token == nil, let variable = configuration.bearerTokenEnvironment {
            guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                throw CapstanError(.invalidArgument, "auth.bearerTokenEnv names \(variable), but that environment variable is not set")
            }
            token = value
        }
        self.bearerToken = token
        gateway = try Gateway(
            configuration: configuration, redis: redis,
            backends: backends ?? OpenInferenceClient.factory(timeout: configuration.modelTimeout),
            predictionLog: log, logger: logger)
        self.httpPort = httpPort
        self.host = host
        self.grpcPort = grpcPort
        http = GatewayHTTP.application(gateway: gateway, host: host, port: httpPort, bearerToken: token, registry: registry, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        let grpc = grpcPort.map { GatewayGRPCService.server(gateway: gateway, host: host, port: $0, bearerToken: bearerToken) }
        // No readiness probe here: the model-server clients only connect once `gateway.run()`
        // runs them, so a probe sent before that waits out the whole model timeout and finds
        // nothing ready. `gateway.run()` probes first thing; until a version answers, requests
        // get 503 and `/readyz` says which versions are not ready.
        logger.info("gateway serving", metadata: [
            "http.port": "\(httpPort)", "grpc.port": "\(grpcPort.map(String.init) ?? "off")",
            "models": "\(gateway.configuration.models.map(\.name))",
        ])
        // On graceful shutdown each part stops by itself (the HTTP server drains, the gRPC server
        // finishes its calls, the engine's loops end); cancellation stops them all at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await cancelWhenGracefulShutdown { try await self.gateway.run() } }
            group.addTask { try await self.http.run() }
            if let grpc {
                group.addTask {
                    try await withTaskCancellationHandler {
                        try await withGracefulShutdownHandler {
                            try await grpc.serve()
                        } onGracefulShutdown: {
                            grpc.beginGracefulShutdown()
                        }
                    } onCancel: {
                        grpc.beginGracefulShutdown()
                    }
                }
            }
            try await group.waitForAll()
        }
        await producer?.close(timeout: .seconds(5))
    }
}
