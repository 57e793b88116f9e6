import ArgumentParser
import CapstanCore
import CapstanGateway
import CapstanKafka
import CapstanTelemetry
import Foundation
import Logging
import ServiceLifecycle

/// `capstan-serving gateway`: the serving gateway role (docs/gateway.md). Hydrates features from
/// Redis, routes by the traffic table to the versions' model servers, logs predictions to Kafka.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve predictions: features from Redis, traffic split across model versions, predictions logged to Kafka.")

    @Option(help: "Gateway configuration (YAML), e.g. examples/churn/gateway.yaml.")
    var config: String

    @Option(help: "Redis URL of the online store (overrides the configuration's 'redis'; default: the configuration's, else $CAPSTAN_REDIS_URL).")
    var redis: String?

    @Option(help: "Kafka bootstrap servers for the prediction log (default: $KAFKA_BROKERS; none = not logged).")
    var kafkaBrokers: String?

    @Option(help: "Address to listen on.")
    var host: String = "0.0.0.0"

    @Option(help: "REST port (predict, traffic, /metrics, /healthz, /readyz).")
    var httpPort: Int = 8080

    @Option(help: "gRPC port (capstan.gateway.v1.Gateway); 0 turns gRPC off.")
    var grpcPort: Int = 8081

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"

    func run() async throws {
        LogSetup.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "capstan.gateway")
        let kafkaBrokers = kafkaBrokers ?? ProcessInfo.processInfo.environment["KAFKA_BROKERS"]
        let configuration = try GatewayConfiguration.load(path: config)
        let registry = Telemetry.bootstrap()
        let service = try GatewayService(
            configuration: configuration,
            // The operator passes the URL (it may hold a password) through the environment.
            redisURL: redis ?? configuration.redisURL ?? ProcessInfo.processInfo.environment["CAPSTAN_REDIS_URL"], kafka: kafkaBrokers.map { KafkaConfig(bootstrapServers: $0) },
            host: host, httpPort: httpPort, grpcPort: grpcPort == 0 ? nil : grpcPort, registry: registry, logger: logger)
        if kafkaBrokers == nil {
            logger.warning("no Kafka brokers (--kafka-brokers or KAFKA_BROKERS): predictions are not logged")
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
